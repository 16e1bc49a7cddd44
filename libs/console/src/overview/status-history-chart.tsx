import { AreaSeries, Axis, Chart, DARK_THEME, LIGHT_THEME, niceTimeFormatter, Position, ScaleType, Settings, Tooltip } from '@elastic/charts';
import { useEuiTheme } from '@elastic/eui';
import { useEffect } from 'react';
import darkCss from '@elastic/charts/dist/theme_only_dark.css?url';
import lightCss from '@elastic/charts/dist/theme_only_light.css?url';
import type { AgentStatus, StatusSample } from '../agents/agent-types';

/** The statuses drawn, bottom to top (stacked). */
const SERIES: readonly AgentStatus[] = ['online', 'updating', 'enrolling', 'unenrolling', 'degraded', 'error', 'orphaned', 'offline', 'inactive'];

/**
 * The charts' own stylesheet (tooltip, legend), for the color mode: a <link> to the built file, as
 * the CSP allows ('self'), swapped when the mode changes. Only this lazy chunk loads it.
 */
function useChartsStylesheet(dark: boolean): void {
  useEffect(() => {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = dark ? darkCss : lightCss;
    link.dataset.chartsTheme = dark ? 'dark' : 'light';
    document.head.appendChild(link);
    return () => link.remove();
  }, [dark]);
}

/** Agents by status over time, stacked areas on a time axis (@elastic/charts, Kibana's chart library). */
export default function StatusHistoryChart({ samples }: { samples: StatusSample[] }) {
  const { euiTheme, colorMode } = useEuiTheme();
  const dark = colorMode === 'DARK';
  useChartsStylesheet(dark);
  const colors: Record<AgentStatus, string> = {
    online: euiTheme.colors.success,
    offline: euiTheme.colors.mediumShade,
    error: euiTheme.colors.danger,
    degraded: euiTheme.colors.warning,
    updating: euiTheme.colors.primary,
    enrolling: euiTheme.colors.accentSecondary,
    unenrolling: euiTheme.colors.accent,
    orphaned: euiTheme.colors.warningText,
    uninstalled: euiTheme.colors.lightShade,
    inactive: euiTheme.colors.lightShade,
    unenrolled: euiTheme.colors.lightestShade,
  };
  const data = samples.map((s) => ({ ...s, x: Date.parse(s.timestamp) }));
  const first = data[0]?.x ?? Date.now();
  const last = data[data.length - 1]?.x ?? Date.now();
  return (
    <Chart size={{ height: 260 }}>
      <Settings
        baseTheme={dark ? DARK_THEME : LIGHT_THEME}
        theme={{ background: { color: 'transparent' } }}
        ariaLabel="Agents by status over time"
        showLegend
        legendPosition={Position.Right}
        locale="en-US"
      />
      <Tooltip headerFormatter={({ value }) => new Date(Number(value)).toLocaleString()} />
      <Axis id="time" position={Position.Bottom} tickFormat={niceTimeFormatter([first, last])} />
      <Axis id="count" position={Position.Left} title="Agents" ticks={5} tickFormat={(v: number) => String(Math.round(v))} />
      {SERIES.map((status) => (
        <AreaSeries
          key={status}
          id={status}
          name={status}
          data={data}
          xScaleType={ScaleType.Time}
          yScaleType={ScaleType.Linear}
          xAccessor="x"
          yAccessors={[status]}
          stackAccessors={['x']}
          color={colors[status]}
        />
      ))}
    </Chart>
  );
}
