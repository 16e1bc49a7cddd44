import { Axis, Chart, DARK_THEME, LIGHT_THEME, LineSeries, niceTimeFormatter, Position, ScaleType, Settings } from '@elastic/charts';
// The layout and light colors come with this chunk (its stylesheet loads before the chart
// measures itself); the dark colors are added over them in the dark mode.
import '@elastic/charts/dist/theme_only_light.css';
import darkChartCss from '@elastic/charts/dist/theme_only_dark.css?url';
import { useEuiTheme } from '@elastic/eui';
import { useEffect } from 'react';
import type { RolloutPoint } from '../hooks/use-rollout-stream';

/**
 * The chart library's dark colors, as a <link> to the bundled file while the dark mode is on (the
 * console's CSP allows same-origin stylesheets; an inline <style> would need the nonce).
 */
function useDarkChartStylesheet(dark: boolean): void {
  useEffect(() => {
    if (!dark) return;
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = darkChartCss;
    document.head.appendChild(link);
    return () => link.remove();
  }, [dark]);
}

/**
 * Delivered and acknowledged agents over time, since the page opened (one point per snapshot).
 * Loaded on demand with the chart library.
 */
export default function RolloutChart({ points, targeted }: { points: RolloutPoint[]; targeted: number }) {
  const { colorMode, euiTheme } = useEuiTheme();
  const dark = colorMode === 'DARK';
  useDarkChartStylesheet(dark);
  const first = points[0]?.t ?? Date.now();
  const last = points[points.length - 1]?.t ?? first;
  // At least 15 s wide, so the first second does not spread over the whole width in milliseconds,
  // while a rollout of a few seconds still fills most of it.
  const domain = { min: first, max: Math.max(last, first + 15_000) };
  const formatTime = niceTimeFormatter([domain.min, domain.max]);
  return (
    <Chart size={{ height: 240 }} title="Rollout progress over time">
      <Settings
        baseTheme={dark ? DARK_THEME : LIGHT_THEME}
        theme={{ background: { color: 'transparent' } }}
        xDomain={domain}
        showLegend
        legendPosition={Position.Bottom}
        ariaLabel="Delivered and acknowledged agents since this page opened"
        locale="en"
      />
      <Axis id="time" position={Position.Bottom} tickFormat={formatTime} showOverlappingTicks={false} />
      <Axis
        id="agents"
        position={Position.Left}
        domain={{ min: 0, max: Math.max(targeted, 1) }}
        tickFormat={(v: number) => String(Math.round(v))}
        title="Agents"
        gridLine={{ visible: true }}
      />
      <LineSeries
        id="delivered"
        name="Delivered"
        data={points}
        xScaleType={ScaleType.Time}
        yScaleType={ScaleType.Linear}
        xAccessor="t"
        yAccessors={['delivered']}
        color={euiTheme.colors.primary}
      />
      <LineSeries
        id="acknowledged"
        name="Acknowledged"
        data={points}
        xScaleType={ScaleType.Time}
        yScaleType={ScaleType.Linear}
        xAccessor="t"
        yAccessors={['acknowledged']}
        color={euiTheme.colors.success}
      />
    </Chart>
  );
}
