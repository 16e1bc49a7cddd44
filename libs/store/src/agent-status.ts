import type { AgentDoc } from './documents';

/** The statuses Kibana's Fleet UI derives for an agent. */
export const AGENT_STATUSES = [
  'online',
  'offline',
  'inactive',
  'enrolling',
  'unenrolling',
  'unenrolled',
  'updating',
  'degraded',
  'error',
  'orphaned',
  'uninstalled',
] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** Kibana marks an agent offline after 10 missed 30 s polling intervals. */
export const OFFLINE_AFTER_MS = 10 * 30_000;

export interface StatusContext {
  now: Date;
  /** Latest revision of the agent's policy, when known. */
  latestPolicyRevision?: number;
  /** The policy's `inactivity_timeout` in seconds (0 or absent: never inactive). */
  inactivityTimeoutSeconds?: number;
}

/** Derives the status the way Kibana's Fleet status runtime field does, in the same order. */
export function deriveAgentStatus(agent: AgentDoc, ctx: StatusContext): AgentStatus {
  if (!agent.active) return agent.unenrolled_at ? 'unenrolled' : 'inactive';
  if (agent.audit_unenrolled_reason === 'uninstall') return 'uninstalled';
  if (agent.audit_unenrolled_reason === 'orphaned') return 'orphaned';
  if (!agent.last_checkin) return 'enrolling';
  const sinceCheckin = ctx.now.getTime() - Date.parse(agent.last_checkin);
  const inactivity = (ctx.inactivityTimeoutSeconds ?? 0) * 1000;
  if (inactivity > 0 && sinceCheckin > inactivity) return 'inactive';
  if (sinceCheckin > OFFLINE_AFTER_MS) return 'offline';
  // As Kibana's runtime field: an upgrade is under way from upgrade_started_at until upgraded_at,
  // whatever the agent reports (checked before unenrolling, error and degraded). A failed upgrade
  // (upgrade_details.state UPG_FAILED) keeps upgraded_at unset and so stays `updating`; Kibana's UI
  // shows the failure from upgrade_details and offers to restart it.
  if (agent.upgrade_started_at && !agent.upgraded_at) return 'updating';
  if (agent.unenrollment_started_at && !agent.unenrolled_at) return 'unenrolling';
  // Kibana lowercases the reported status: agents report a degraded state as "DEGRADED".
  const reported = agent.last_checkin_status?.toLowerCase();
  if (reported === 'error') return 'error';
  if (reported === 'degraded') return 'degraded';
  const revision = agent.policy_revision_idx;
  if (revision === undefined || revision === null) return 'updating';
  if (ctx.latestPolicyRevision !== undefined && revision < ctx.latestPolicyRevision) return 'updating';
  return 'online';
}

/** Every status at 0: the start of a count. */
export const zeroStatusCounts = (): Record<AgentStatus, number> =>
  Object.fromEntries(AGENT_STATUSES.map((s) => [s, 0])) as Record<AgentStatus, number>;
