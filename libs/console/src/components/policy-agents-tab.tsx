import { EuiButton, EuiFlexGroup, EuiFlexItem, EuiPanel, EuiSpacer, EuiStat, EuiText } from '@elastic/eui';
import { useHref, useLinkClickHandler } from 'react-router-dom';
import { AGENT_STATUS_DISPLAY } from '../agents/agent-statuses';
import type { AgentStatusCounts } from '../agents/agent-types';
import { agentsOfPolicyPath, type AgentPolicy } from '../fleet-types';
import { useApiResource } from '../hooks/use-api-resource';
import { PageError } from './page-error';

/** The counts a policy's tab shows: the total, then the statuses of agents still enrolled. */
const SHOWN: { key: keyof AgentStatusCounts; label: string; color: string }[] = [
  { key: 'total', label: 'Total', color: 'default' },
  ...AGENT_STATUS_DISPLAY.filter((d) => ['online', 'error', 'degraded', 'updating', 'offline', 'inactive'].includes(d.status)).map((d) => ({
    key: d.status,
    label: d.label,
    color: d.statColor,
  })),
];

/** The agents on a policy: status counts (`GET /agent_status?policyId=`) and the way to the agent list. */
export function PolicyAgentsTab({ policy }: { policy: AgentPolicy }) {
  const status = useApiResource<{ results: AgentStatusCounts }>('/api/fleet/agent_status', { policyId: policy.id });
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
                isLoading={status.isLoading && !status.data}
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
