import { EuiButton, EuiFlexGroup, EuiFlexItem, EuiPanel, EuiSpacer, EuiStat, EuiText } from '@elastic/eui';
import { useHref, useLinkClickHandler } from 'react-router-dom';
import { agentsOfPolicyPath, type AgentPolicy } from '../fleet-types';
import { useApiQuery } from '../hooks/use-api-query';
import { PageError } from './page-error';

interface StatusCounts {
  total: number;
  online: number;
  offline: number;
  error: number;
  degraded: number;
  updating: number;
  inactive: number;
  unenrolled: number;
}

const SHOWN: { key: keyof StatusCounts; label: string; color: 'default' | 'success' | 'danger' | 'subdued' | 'accent' | 'warning' }[] = [
  { key: 'total', label: 'Total', color: 'default' },
  { key: 'online', label: 'Healthy', color: 'success' },
  { key: 'error', label: 'Unhealthy', color: 'danger' },
  { key: 'degraded', label: 'Degraded', color: 'warning' },
  { key: 'updating', label: 'Updating', color: 'accent' },
  { key: 'offline', label: 'Offline', color: 'subdued' },
  { key: 'inactive', label: 'Inactive', color: 'subdued' },
];

/** The agents on a policy: status counts (`GET /agent_status?policyId=`) and the way to the agent list. */
export function PolicyAgentsTab({ policy }: { policy: AgentPolicy }) {
  const status = useApiQuery<{ results: StatusCounts }>('/api/fleet/agent_status', { policyId: policy.id });
  const to = agentsOfPolicyPath(policy.id);
  const href = useHref(to);
  const onClick = useLinkClickHandler<HTMLAnchorElement>(to);
  return (
    <>
      {status.error !== undefined && (
        <>
          <PageError error={status.error} title="The agent counts could not be loaded" onRetry={status.reload} />
          <EuiSpacer />
        </>
      )}
      <EuiPanel hasBorder data-test-subj="policyAgentStatus">
        <EuiFlexGroup wrap responsive={false}>
          {SHOWN.map((s) => (
            <EuiFlexItem key={s.key} grow={false} style={{ minWidth: 110 }}>
              <EuiStat
                title={status.data ? String(status.data.results[s.key] ?? 0) : '–'}
                description={s.label}
                titleColor={s.color}
                titleSize="m"
                isLoading={status.loading && !status.data}
                data-test-subj={`policyAgentStatus-${s.key}`}
              />
            </EuiFlexItem>
          ))}
        </EuiFlexGroup>
      </EuiPanel>
      <EuiSpacer />
      <EuiText size="s">
        <p>The agent list filtered on this policy has every agent&apos;s status, version and last check-in.</p>
      </EuiText>
      <EuiSpacer size="s" />
      <EuiButton href={href} onClick={onClick} iconType="list" data-test-subj="policyAgentsLink">
        View the agents of &apos;{policy.name}&apos;
      </EuiButton>
    </>
  );
}
