import { EuiBadge, EuiToolTip } from '@elastic/eui';
import { AGENT_STATUS_DISPLAY } from '../agents/agent-statuses';
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
const STATUS_DESCRIPTION = Object.fromEntries(AGENT_STATUS_DISPLAY.map((d) => [d.status, d.description])) as Record<AgentStatus, string>;

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
