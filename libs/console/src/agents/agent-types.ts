/**
 * The management API's agent answers as the console reads them (Kibana's shapes; see
 * services/policy-dispatcher agent-management.ts and the console contract). Only the fields the
 * pages show are typed.
 */

/** The statuses Kibana's Fleet derives for an agent, in its order. */
export const AGENT_STATUSES = [
  'online',
  'offline',
  'error',
  'degraded',
  'updating',
  'enrolling',
  'unenrolling',
  'orphaned',
  'uninstalled',
  'inactive',
  'unenrolled',
] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export const isAgentStatus = (v: string): v is AgentStatus => (AGENT_STATUSES as readonly string[]).includes(v);

/** Statuses of agents that are no longer active: listed only with showInactive. */
export const INACTIVE_STATUSES: readonly AgentStatus[] = ['inactive', 'unenrolled'];

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface ComponentUnit {
  id: string;
  type: string;
  status: string;
  message?: string;
  payload?: { [key: string]: Json };
}

export interface AgentComponent {
  id: string;
  type: string;
  status: string;
  message?: string;
  units?: ComponentUnit[];
}

export interface UpgradeDetails {
  target_version: string;
  action_id: string;
  state: string;
  metadata?: { [key: string]: Json };
}

export interface AgentView {
  id: string;
  status: AgentStatus;
  active: boolean;
  type?: string;
  policy_id: string;
  policy_revision: number | null;
  enrolled_at: string;
  last_checkin?: string;
  last_checkin_status?: string;
  last_checkin_message?: string;
  unhealthy_reason?: string[] | null;
  tags: string[];
  agent: { id: string; version: string };
  local_metadata: { [key: string]: Json };
  components?: AgentComponent[];
  upgrade_details?: UpgradeDetails | null;
  upgrade_started_at?: string | null;
  upgraded_at?: string | null;
  unenrollment_started_at?: string | null;
  unenrolled_at?: string | null;
  unenrolled_reason?: string | null;
}

export interface AgentList {
  items: AgentView[];
  total: number;
  page: number;
  perPage: number;
}

/** `GET /agent_status` (Kibana's shape). */
export type AgentStatusCounts = Record<AgentStatus | 'other' | 'events' | 'total' | 'all' | 'active', number>;

/** One sample of `GET /agent_status/history`. */
export type StatusSample = { timestamp: string } & Record<AgentStatus, number>;

export interface StatusHistory {
  items: StatusSample[];
  interval_ms: number;
}

/** `GET /console/metrics`. */
export interface ConsoleMetrics {
  checkins_per_second: number;
  open_long_polls: number;
  replicas: { replica_id: string; checkins_per_second: number; open_long_polls: number; reported_at: string }[];
  sampled_at: string;
}

/** One entry of `GET /agents/:id/action_history`. */
export interface ActionHistoryItem {
  action_id: string;
  type: string;
  created_at: string;
  expiration?: string;
  user_id?: string;
  data?: Json;
  status: 'pending' | 'acknowledged' | 'failed' | 'expired';
  acknowledged_at?: string;
  error?: string;
}

/** One entry of `GET /agents/:id/uploads` (Kibana's AgentDiagnostics). */
export interface DiagnosticsUpload {
  id: string;
  name: string;
  filePath: string;
  createTime: string;
  status: 'READY' | 'AWAITING_UPLOAD' | 'IN_PROGRESS' | 'FAILED' | 'EXPIRED' | 'DELETED';
  actionId: string;
  error?: string;
}

/** The agent policy fields the agent pages show. */
export interface AgentPolicySummary {
  id: string;
  name: string;
  namespace: string;
  revision: number;
  is_managed?: boolean;
}

/** A path into `local_metadata` (e.g. host.hostname), as a string when it is one. */
export function metadataText(agent: Pick<AgentView, 'local_metadata'>, path: string): string | undefined {
  let node: Json | undefined = agent.local_metadata;
  for (const part of path.split('.')) {
    if (!node || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = node[part];
  }
  return typeof node === 'string' || typeof node === 'number' ? String(node) : undefined;
}

export const agentHostname = (agent: AgentView): string => metadataText(agent, 'host.hostname') ?? agent.id;
export const agentVersion = (agent: AgentView): string | undefined =>
  metadataText(agent, 'elastic.agent.version') ?? (agent.agent?.version || undefined);
