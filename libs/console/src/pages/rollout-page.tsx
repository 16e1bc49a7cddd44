import {
  EuiBadge,
  EuiBasicTable,
  EuiCallOut,
  EuiFlexGroup,
  EuiFlexItem,
  EuiHealth,
  EuiPageTemplate,
  EuiPanel,
  EuiProgress,
  EuiSkeletonRectangle,
  EuiSkeletonText,
  EuiSpacer,
  EuiStat,
  EuiText,
  EuiTitle,
  type EuiBasicTableColumn,
} from '@elastic/eui';
import { lazy, Suspense } from 'react';
import { useParams } from 'react-router-dom';
import { errorMessage } from '../api-client';
import { ConsoleLink } from '../components/console-link';
import { PageError } from '../components/page-error';
import { GlobalToasts } from '../components/toasts';
import type { AgentPolicy, RolloutBehindAgent, RolloutSnapshot } from '../fleet-types';
import { formatTime } from '../format';
import { useApiQuery } from '../hooks/use-api-query';
import { useRolloutStream, type StreamState } from '../hooks/use-rollout-stream';
import { useUrlState } from '../hooks/use-url-state';
import { NotFoundPage } from './not-found-page';

// The chart library is large: its own chunk, loaded with this page's first snapshot.
const RolloutChart = lazy(() => import('../components/rollout-chart'));

const STATUS_COLORS: Record<string, string> = {
  online: 'success',
  error: 'danger',
  degraded: 'warning',
  updating: 'primary',
  offline: 'default',
  enrolling: 'primary',
  unenrolling: 'warning',
  inactive: 'default',
  unenrolled: 'default',
  orphaned: 'warning',
  uninstalled: 'default',
};
const REASONS: Record<RolloutBehindAgent['reason'], string> = {
  offline: 'Offline: gets it when it checks in again',
  error: 'Failed to apply it',
  pending: 'Not acknowledged yet',
};

const STREAM_BADGE: Record<StreamState, { color: string; label: string }> = {
  connecting: { color: 'hollow', label: 'Connecting…' },
  live: { color: 'success', label: 'Live' },
  reconnecting: { color: 'warning', label: 'Reconnecting…' },
  stopped: { color: 'danger', label: 'Stopped' },
};

const ratio = (n: number, of: number) => `${n}/${of}`;

function RolloutStats({ s }: { s: RolloutSnapshot }) {
  const percent = s.targeted === 0 ? 100 : Math.round((s.acknowledged / s.targeted) * 100);
  return (
    <EuiPanel hasBorder>
      <EuiFlexGroup wrap responsive={false} gutterSize="xl">
        <EuiFlexItem grow={false}>
          <EuiStat title={<span data-test-subj="rolloutTargeted">{s.targeted}</span>} description="Targeted agents" titleSize="m" />
        </EuiFlexItem>
        <EuiFlexItem grow={false}>
          <EuiStat
            title={<span data-test-subj="rolloutDelivered">{ratio(s.delivered, s.targeted)}</span>}
            description="Delivered"
            titleColor="primary"
            titleSize="m"
          />
        </EuiFlexItem>
        <EuiFlexItem grow={false}>
          <EuiStat
            title={<span data-test-subj="rolloutAcknowledged">{ratio(s.acknowledged, s.targeted)}</span>}
            description="Acknowledged"
            titleColor="success"
            titleSize="m"
          />
        </EuiFlexItem>
        <EuiFlexItem grow={false}>
          <EuiStat
            title={<span data-test-subj="rolloutFailed">{s.failed}</span>}
            description="Failed"
            titleColor={s.failed > 0 ? 'danger' : 'default'}
            titleSize="m"
          />
        </EuiFlexItem>
        <EuiFlexItem grow={false}>
          <EuiStat title={<span data-test-subj="rolloutBehindTotal">{s.behind_total}</span>} description="Behind" titleSize="m" />
        </EuiFlexItem>
      </EuiFlexGroup>
      <EuiSpacer size="m" />
      <EuiText size="xs" color="subdued">
        <p>Acknowledged {percent}%</p>
      </EuiText>
      <EuiProgress
        value={s.targeted === 0 ? 1 : s.acknowledged}
        max={Math.max(s.targeted, 1)}
        color="success"
        size="l"
        aria-label="Acknowledged"
        data-test-subj="rolloutProgress"
      />
      <EuiSpacer size="s" />
      <EuiText size="xs" color="subdued">
        <p>Delivered {s.targeted === 0 ? 100 : Math.round((s.delivered / s.targeted) * 100)}%</p>
      </EuiText>
      <EuiProgress
        value={s.targeted === 0 ? 1 : s.delivered}
        max={Math.max(s.targeted, 1)}
        color="primary"
        size="s"
        aria-label="Delivered"
        data-test-subj="rolloutDeliveredProgress"
      />
    </EuiPanel>
  );
}

function BehindTable({ s }: { s: RolloutSnapshot }) {
  const columns: EuiBasicTableColumn<RolloutBehindAgent>[] = [
    {
      field: 'agent_id',
      name: 'Agent',
      render: (id: string) => (
        <ConsoleLink to={`/agents/${encodeURIComponent(id)}`} data-test-subj={`rolloutBehindAgent-${id}`}>
          {id}
        </ConsoleLink>
      ),
    },
    { field: 'hostname', name: 'Host name', render: (h: string | undefined) => h ?? '—' },
    {
      field: 'status',
      name: 'Status',
      width: '120px',
      render: (status: string) => <EuiBadge color={STATUS_COLORS[status] ?? 'default'}>{status}</EuiBadge>,
    },
    {
      field: 'reason',
      name: 'Why behind',
      render: (r: RolloutBehindAgent['reason']) => (
        <EuiHealth color={r === 'error' ? 'danger' : r === 'offline' ? 'subdued' : 'warning'}>{REASONS[r] ?? r}</EuiHealth>
      ),
    },
    ...(s.kind === 'policy'
      ? [{ field: 'acked_revision', name: 'Runs revision', width: '120px', render: (r: number | undefined) => (r === undefined ? '—' : `rev. ${r}`) }]
      : []),
    { field: 'last_checkin', name: 'Last check-in', render: (t: string | undefined) => formatTime(t) },
    { field: 'error', name: 'Error', render: (e: string | undefined) => (e ? <EuiText size="s" color="danger">{e}</EuiText> : '—') },
  ];
  return (
    <>
      <EuiTitle size="xs">
        <h2>
          Agents behind{' '}
          {s.behind_total > s.behind.length && (
            <EuiText size="s" color="subdued" component="span">
              (the first {s.behind.length} of {s.behind_total})
            </EuiText>
          )}
        </h2>
      </EuiTitle>
      <EuiSpacer size="s" />
      <EuiBasicTable<RolloutBehindAgent>
        tableCaption="Agents that have not acknowledged yet"
        data-test-subj="rolloutBehindTable"
        items={s.behind}
        columns={columns}
        rowProps={(a) => ({ 'data-test-subj': `rolloutBehindRow-${a.agent_id}` })}
        noItemsMessage={s.complete ? 'Every targeted agent has acknowledged.' : 'No agent is behind.'}
      />
    </>
  );
}

/**
 * Live progress of a policy revision (`/rollouts/policies/:id?revision=n`) or an action
 * (`/rollouts/actions/:actionId`) on its way to the agents, from the server's progress stream.
 */
export function RolloutPage() {
  const { kind = '', targetId = '' } = useParams();
  const url = useUrlState();
  const revisionParam = url.get('revision');
  const revision = revisionParam && /^\d+$/.test(revisionParam) ? Number(revisionParam) : undefined;
  const isPolicy = kind === 'policies';
  const valid = isPolicy || kind === 'actions';
  const path = `/api/fleet/rollouts/${isPolicy ? 'policies' : 'actions'}/${encodeURIComponent(targetId)}`;
  const stream = useRolloutStream(path, isPolicy ? { revision } : {});
  const policy = useApiQuery<{ item: AgentPolicy }>(isPolicy && targetId ? `/api/fleet/agent_policies/${encodeURIComponent(targetId)}` : undefined);
  if (!valid) return <NotFoundPage />;

  const s = stream.snapshot;
  const badge = STREAM_BADGE[stream.state];
  const title = isPolicy
    ? `Rollout of ${policy.data?.item.name ?? targetId}${s?.revision !== undefined ? `, revision ${s.revision}` : revision !== undefined ? `, revision ${revision}` : ''}`
    : `Rollout of action ${s?.action_type ?? ''} ${targetId}`.replace(/\s+/g, ' ');

  return (
    <>
      <EuiPageTemplate.Header
        pageTitle={title}
        description={
          s ? (
            <span>
              Started {formatTime(s.started_at)} · last sample {formatTime(s.sampled_at)}
              {isPolicy && (
                <>
                  {' · '}
                  <ConsoleLink to={`/policies/${encodeURIComponent(targetId)}`} data-test-subj="rolloutPolicyLink">
                    the policy
                  </ConsoleLink>
                </>
              )}
            </span>
          ) : undefined
        }
        rightSideItems={[
          <EuiBadge key="stream" color={badge.color} data-test-subj="rolloutStreamState" aria-live="polite">
            {badge.label}
          </EuiBadge>,
        ]}
      />
      <EuiPageTemplate.Section>
        {stream.state === 'stopped' && stream.error !== undefined && (
          <>
            <PageError error={stream.error} title="The rollout cannot be followed" />
            <EuiSpacer />
          </>
        )}
        {stream.state === 'reconnecting' && (stream.failures > 1 || stream.error !== undefined) && (
          <>
            <EuiCallOut title="The progress stream was interrupted; reconnecting" color="warning" iconType="warning" size="s" data-test-subj="rolloutReconnecting">
              {stream.error !== undefined ? <p>{errorMessage(stream.error)}</p> : <p>The figures below are the last known.</p>}
            </EuiCallOut>
            <EuiSpacer />
          </>
        )}
        {s?.complete && (
          <>
            <EuiCallOut title="Rollout complete" color="success" iconType="check" data-test-subj="rolloutComplete">
              <p>
                All {s.targeted} targeted agents answered: {s.acknowledged} acknowledged
                {s.failed > 0 ? `, ${s.failed} failed` : ''}.
              </p>
            </EuiCallOut>
            <EuiSpacer />
          </>
        )}
        {s ? (
          <>
            <RolloutStats s={s} />
            <EuiSpacer />
            <EuiPanel hasBorder data-test-subj="rolloutChart">
              <Suspense fallback={<EuiSkeletonRectangle width="100%" height={240} />}>
                <RolloutChart points={stream.history} targeted={s.targeted} />
              </Suspense>
            </EuiPanel>
            <EuiSpacer />
            <BehindTable s={s} />
          </>
        ) : stream.state !== 'stopped' ? (
          <EuiSkeletonText lines={8} isLoading contentAriaLabel="Waiting for the first progress sample" />
        ) : null}
      </EuiPageTemplate.Section>
      <GlobalToasts />
    </>
  );
}
