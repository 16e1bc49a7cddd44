import type { AgentStatus } from './agent-types';

/**
 * Every agent status as the console shows it, in Kibana Fleet's words and colors, in the order its
 * status summaries list them: the label, the color of a count (EuiStat) and what it means.
 */
export const AGENT_STATUS_DISPLAY: readonly { status: AgentStatus; label: string; statColor: 'default' | 'subdued' | 'primary' | 'success' | 'danger' | 'warning' | 'accent'; description: string }[] = [
  { status: 'online', label: 'Healthy', statColor: 'success', description: 'Healthy: checking in and running its policy' },
  { status: 'error', label: 'Unhealthy', statColor: 'danger', description: 'Unhealthy: the agent reports an error' },
  { status: 'degraded', label: 'Degraded', statColor: 'warning', description: 'Unhealthy: the agent reports a degraded state' },
  { status: 'updating', label: 'Updating', statColor: 'primary', description: 'Receiving a policy change or an upgrade' },
  { status: 'offline', label: 'Offline', statColor: 'subdued', description: 'Has not checked in for more than 5 minutes' },
  { status: 'enrolling', label: 'Enrolling', statColor: 'primary', description: 'Enrolled, has not checked in yet' },
  { status: 'unenrolling', label: 'Unenrolling', statColor: 'primary', description: 'An unenroll action is on its way' },
  { status: 'orphaned', label: 'Orphaned', statColor: 'warning', description: 'Lost its Fleet Server connection' },
  { status: 'uninstalled', label: 'Uninstalled', statColor: 'subdued', description: 'The agent was uninstalled' },
  { status: 'inactive', label: 'Inactive', statColor: 'subdued', description: 'Past its policy inactivity timeout' },
  { status: 'unenrolled', label: 'Unenrolled', statColor: 'subdued', description: 'Unenrolled' },
];
