import { EuiBadge, EuiToolTip } from '@elastic/eui';
import type { AgentStatus } from '../agents/agent-types';

/**
 * Kibana Fleet's status colors: healthy green, offline plain, unhealthy red/amber, transitions blue,
 * gone agents hollow (subdued).
 */
export const STATUS_COLOR: Record<AgentStatus, string> = {
  online: 'success',
  offline: 'default',
  error: 'danger',
  degraded: 'warning',
  updating: 'primary',
  enrolling: 'primary',
  unenrolling: 'primary',
  orphaned: 'warning',
  uninstalled: 'hollow',
  inactive: 'hollow',
  unenrolled: 'hollow',
};

/** What each status means, in Kibana's words (the badge's tooltip). */
export const STATUS_DESCRIPTION: Record<AgentStatus, string> = {
  online: 'Healthy: checking in and running its policy',
  offline: 'Has not checked in for more than 5 minutes',
  error: 'Unhealthy: the agent reports an error',
  degraded: 'Unhealthy: the agent reports a degraded state',
  updating: 'Receiving a policy change or an upgrade',
  enrolling: 'Enrolled, has not checked in yet',
  unenrolling: 'An unenroll action is on its way',
  orphaned: 'Lost its Fleet Server connection',
  uninstalled: 'The agent was uninstalled',
  inactive: 'Past its policy inactivity timeout',
  unenrolled: 'Unenrolled',
};

/** The status badge of an agent; its text is the status itself (E2E tests read it). */
export function AgentStatusBadge({ status, testSubj }: { status: AgentStatus; testSubj?: string }) {
  return (
    <EuiToolTip content={STATUS_DESCRIPTION[status] ?? status}>
      <EuiBadge color={STATUS_COLOR[status] ?? 'default'} data-test-subj={testSubj}>
        {status}
      </EuiBadge>
    </EuiToolTip>
  );
}
