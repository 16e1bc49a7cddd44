import {
  EuiBasicTable,
  EuiCallOut,
  EuiFlexGrid,
  EuiFlexGroup,
  EuiFlexItem,
  EuiLink,
  EuiLoadingChart,
  EuiPageTemplate,
  EuiPanel,
  EuiSelect,
  EuiSpacer,
  EuiStat,
  EuiText,
  EuiTitle,
} from '@elastic/eui';
import { lazy, Suspense } from 'react';
import { useNavigate, useSearchParams } from 'react-router-dom';
import { errorMessage } from '../api-client';
import { listStateParams, DEFAULT_LIST_STATE } from '../agents/agent-list-query';
import type { AgentStatus, AgentStatusCounts, ConsoleMetrics, StatusHistory } from '../agents/agent-types';
import { RelativeTime } from '../components/relative-time';
import { useApiResource } from '../hooks/use-api-resource';

/** The chart library is large: it loads with the overview, not with the console. */
const StatusHistoryChart = lazy(() => import('../overview/status-history-chart'));

const REFRESH_MS = 10_000;
const HOURS = [1, 3, 6, 12, 24];

/** The status counts shown, with Kibana's colors for EuiStat titles. */
const COUNTED: { status: AgentStatus; label: string; color: string }[] = [
  { status: 'online', label: 'Healthy', color: 'success' },
  { status: 'error', label: 'Unhealthy', color: 'danger' },
  { status: 'degraded', label: 'Degraded', color: 'warning' },
  { status: 'updating', label: 'Updating', color: 'primary' },
  { status: 'offline', label: 'Offline', color: 'subdued' },
  { status: 'enrolling', label: 'Enrolling', color: 'primary' },
  { status: 'unenrolling', label: 'Unenrolling', color: 'primary' },
  { status: 'orphaned', label: 'Orphaned', color: 'warning' },
  { status: 'uninstalled', label: 'Uninstalled', color: 'subdued' },
  { status: 'inactive', label: 'Inactive', color: 'subdued' },
  { status: 'unenrolled', label: 'Unenrolled', color: 'subdued' },
];

const agentsLink = (status: AgentStatus) => `/agents?${listStateParams({ ...DEFAULT_LIST_STATE, statuses: [status] }).toString()}`;

/** The fleet at a glance: agents by status (now and over the last hours) and the server's load. */
export function OverviewPage() {
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const hours = HOURS.includes(Number(params.get('hours'))) ? Number(params.get('hours')) : 6;
  const status = useApiResource<{ results: AgentStatusCounts }>('/api/fleet/agent_status', undefined, { refreshMs: REFRESH_MS });
  const history = useApiResource<StatusHistory>('/api/fleet/agent_status/history', { hours }, { refreshMs: REFRESH_MS, keepPrevious: true });
  const metrics = useApiResource<ConsoleMetrics>('/api/fleet/console/metrics', undefined, { refreshMs: REFRESH_MS });
  const counts = status.data?.results;

  return (
    <>
      <EuiPageTemplate.Header pageTitle="Fleet overview" description="Agents by status and the server's load; refreshed every 10 seconds" />
      <EuiPageTemplate.Section>
        {status.error !== undefined && <PageError title="Could not load the agent status" err={status.error} />}
        <EuiPanel hasBorder data-test-subj="overviewStatusCounts">
          <EuiFlexGroup justifyContent="spaceBetween" alignItems="center" responsive={false}>
            <EuiTitle size="xs">
              <h2>Agents by status</h2>
            </EuiTitle>
            <EuiText size="s" color="subdued">
              {counts ? (
                <span>
                  <span data-test-subj="overviewCount-all">{counts.all}</span> agents, <span data-test-subj="overviewCount-active">{counts.active}</span> active
                </span>
              ) : null}
            </EuiText>
          </EuiFlexGroup>
          <EuiSpacer size="m" />
          <EuiFlexGrid columns={4} gutterSize="m" responsive>
            {COUNTED.map(({ status: s, label, color }) => (
              <EuiFlexItem key={s}>
                <EuiStat
                  title={<span data-test-subj={`overviewCount-${s}`}>{counts ? (counts[s] ?? 0) : '-'}</span>}
                  description={
                    <EuiLink
                      href={`/app/fleet${agentsLink(s)}`}
                      data-test-subj={`overviewLink-${s}`}
                      onClick={(e: React.MouseEvent) => {
                        e.preventDefault();
                        void navigate(agentsLink(s));
                      }}
                    >
                      {label}
                    </EuiLink>
                  }
                  titleColor={color}
                  titleSize="m"
                  isLoading={status.isLoading}
                  reverse
                />
              </EuiFlexItem>
            ))}
          </EuiFlexGrid>
        </EuiPanel>
        <EuiSpacer size="l" />
        <EuiPanel hasBorder data-test-subj="statusHistoryChart">
          <EuiFlexGroup justifyContent="spaceBetween" alignItems="center" responsive={false}>
            <EuiTitle size="xs">
              <h2>Status over time</h2>
            </EuiTitle>
            <EuiFlexItem grow={false}>
              <EuiSelect
                compressed
                aria-label="Time range"
                data-test-subj="statusHistoryHours"
                value={String(hours)}
                onChange={(e) => setParams(e.target.value === '6' ? {} : { hours: e.target.value }, { replace: true })}
                options={HOURS.map((h) => ({ value: String(h), text: `Last ${h} hour${h === 1 ? '' : 's'}` }))}
              />
            </EuiFlexItem>
          </EuiFlexGroup>
          <EuiSpacer size="m" />
          {history.error !== undefined ? (
            <PageError title="Could not load the status history" err={history.error} />
          ) : !history.data ? (
            <EuiLoadingChart size="l" />
          ) : history.data.items.length < 2 ? (
            <EuiText size="s" color="subdued" data-test-subj="statusHistoryEmpty">
              <p>Not enough samples yet: the server records the counts every {Math.round(history.data.interval_ms / 1000)} seconds.</p>
            </EuiText>
          ) : (
            <Suspense fallback={<EuiLoadingChart size="l" />}>
              <StatusHistoryChart samples={history.data.items} />
            </Suspense>
          )}
        </EuiPanel>
        <EuiSpacer size="l" />
        <ServerLoad metrics={metrics.data} error={metrics.error} isLoading={metrics.isLoading} />
      </EuiPageTemplate.Section>
    </>
  );
}

function PageError({ title, err }: { title: string; err: unknown }) {
  return (
    <>
      <EuiCallOut color="danger" iconType="error" title={title} data-test-subj="pageError" role="alert">
        {errorMessage(err)}
      </EuiCallOut>
      <EuiSpacer size="m" />
    </>
  );
}

/** Check-ins per second and open long polls, summed over the live gateway replicas, and each replica's share. */
function ServerLoad({ metrics, error, isLoading }: { metrics: ConsoleMetrics | undefined; error: unknown; isLoading: boolean }) {
  return (
    <EuiPanel hasBorder data-test-subj="serverLoad">
      <EuiTitle size="xs">
        <h2>Fleet Server load</h2>
      </EuiTitle>
      <EuiSpacer size="m" />
      {error !== undefined && <PageError title="Could not load the server metrics" err={error} />}
      <EuiFlexGroup>
        <EuiFlexItem>
          <EuiStat
            title={<span data-test-subj="checkinsPerSecond">{metrics ? metrics.checkins_per_second.toFixed(1) : '-'}</span>}
            description="Check-ins per second"
            isLoading={isLoading}
            titleSize="m"
            reverse
          />
        </EuiFlexItem>
        <EuiFlexItem>
          <EuiStat
            title={<span data-test-subj="openLongPolls">{metrics ? metrics.open_long_polls : '-'}</span>}
            description="Open long polls"
            isLoading={isLoading}
            titleSize="m"
            reverse
          />
        </EuiFlexItem>
        <EuiFlexItem>
          <EuiStat title={metrics ? metrics.replicas.length : '-'} description="Gateway replicas reporting" isLoading={isLoading} titleSize="m" reverse />
        </EuiFlexItem>
      </EuiFlexGroup>
      {metrics && metrics.replicas.length > 1 && (
        <>
          <EuiSpacer size="m" />
          <EuiBasicTable
            tableCaption="Gateway replicas"
            items={metrics.replicas}
            columns={[
              { field: 'replica_id', name: 'Replica' },
              { field: 'checkins_per_second', name: 'Check-ins/s', render: (v: number) => v.toFixed(1) },
              { field: 'open_long_polls', name: 'Open long polls' },
              { field: 'reported_at', name: 'Reported', render: (iso: string) => <RelativeTime iso={iso} /> },
            ]}
          />
        </>
      )}
    </EuiPanel>
  );
}
