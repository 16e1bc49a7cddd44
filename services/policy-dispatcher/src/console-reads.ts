import { readStatusHistory, type StatusSample } from '@fleet/background-jobs';
import { liveGatewayLoads, type ClusterBoard, type GatewayLoad } from '@fleet/notifications';
import { NotFoundError } from '@fleet/service-kit';
import { redactActionSecrets, type AgentStatus, type FleetStore, type JsonValue } from '@fleet/store';
import { getAgentPolicy } from './agent-policies';
import { getAgent } from './agent-management';

/** What the console's reads need besides the store. */
export interface ConsoleDeps {
  /** Where gateways report their load and the status history is kept. */
  board: ClusterBoard;
  statusSampleIntervalMs: number;
}

/** Kibana's agent status summary (`GET /agent_status`). */
export type AgentStatusSummary = Record<AgentStatus, number> & { other: number; events: 0; total: number; all: number; active: number };

/**
 * Agents counted by status (by the store), in Kibana's shape: `all` counts every agent, `active`
 * (and Kibana's deprecated `total`) all but inactive and unenrolled ones, `other` the statuses
 * Kibana's summary has no bucket of its own for (enrolling, unenrolling).
 */
export async function agentStatusSummary(store: FleetStore, policyId: string | undefined, now: Date): Promise<AgentStatusSummary> {
  const counts = await store.agents.countByStatus({ now, showInactive: true, ...(policyId ? { policyIds: [policyId] } : {}) });
  const all = Object.values(counts).reduce((a, b) => a + b, 0);
  const active = all - counts.inactive - counts.unenrolled;
  return { ...counts, other: counts.enrolling + counts.unenrolling, events: 0, total: active, all, active };
}

/** The status samples of the last `hours`, oldest first, and the sampling period. */
export async function statusHistory(deps: ConsoleDeps, hours: number, now: Date): Promise<{ items: StatusSample[]; interval_ms: number }> {
  return { items: await readStatusHistory(deps.board, hours, deps.statusSampleIntervalMs, now), interval_ms: deps.statusSampleIntervalMs };
}

/** The checkin load summed over the live gateway replicas. */
export async function consoleMetrics(deps: ConsoleDeps, now: Date): Promise<{ checkins_per_second: number; open_long_polls: number; replicas: GatewayLoad[]; sampled_at: string }> {
  const replicas = await liveGatewayLoads(deps.board);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    checkins_per_second: round(replicas.reduce((sum, r) => sum + r.checkins_per_second, 0)),
    open_long_polls: replicas.reduce((sum, r) => sum + r.open_long_polls, 0),
    replicas,
    sampled_at: now.toISOString(),
  };
}

export type ActionHistoryStatus = 'pending' | 'acknowledged' | 'failed' | 'expired';

export interface ActionHistoryItem {
  action_id: string;
  type: string;
  created_at: string;
  expiration?: string;
  user_id?: string;
  data?: JsonValue;
  status: ActionHistoryStatus;
  acknowledged_at?: string;
  error?: string;
}

/**
 * The actions addressed to an agent, newest first, with what became of each: its result
 * (acknowledged, or failed with the agent's error), else expired or pending. Secrets are redacted.
 */
export async function agentActionHistory(store: FleetStore, agentId: string, perPage: number, now: Date): Promise<{ items: ActionHistoryItem[]; total: number }> {
  await getAgent(store, agentId);
  const page = await store.actions.listForAgent({ agentId, limit: perPage });
  const actionIds = [...new Set(page.items.map((h) => h._source.action_id))];
  const results = new Map((await store.actionResults.resultsOf(agentId, actionIds)).map((r) => [r._source.action_id, r._source]));
  const items = page.items.map(({ _source: a }): ActionHistoryItem => {
    const result = results.get(a.action_id);
    const expired = a.expiration ? Date.parse(a.expiration) < now.getTime() : false;
    const status: ActionHistoryStatus = result ? (result.error ? 'failed' : 'acknowledged') : expired ? 'expired' : 'pending';
    const data = redactActionSecrets(a.type, a.data);
    return {
      action_id: a.action_id,
      type: a.type,
      created_at: a['@timestamp'],
      ...(a.expiration ? { expiration: a.expiration } : {}),
      ...(a.user_id ? { user_id: a.user_id } : {}),
      ...(data !== undefined ? { data } : {}),
      status,
      ...(result ? { acknowledged_at: result.completed_at ?? result['@timestamp'] } : {}),
      ...(result?.error ? { error: result.error } : {}),
    };
  });
  return { items, total: page.total };
}

/** A policy's revisions, newest first (Kibana has no such API; the console's revisions tab). */
export async function policyRevisions(store: FleetStore, policyId: string, page: { page: number; perPage: number }) {
  await getAgentPolicy(store, policyId);
  const res = await store.policies.list(policyId, page);
  return {
    items: res.items.map((h) => ({ revision_idx: h._source.revision_idx, created_at: h._source['@timestamp'], coordinator_idx: h._source.coordinator_idx })),
    total: res.total,
    ...page,
  };
}

/** One revision's agent-facing policy, as `/full` serves the latest one. */
export async function policyRevision(store: FleetStore, policyId: string, revision: number) {
  await getAgentPolicy(store, policyId);
  const hit = await store.policies.get(policyId, revision);
  if (!hit) throw new NotFoundError(`Revision ${revision} of agent policy ${policyId} not found`);
  return { revision_idx: hit._source.revision_idx, created_at: hit._source['@timestamp'], data: hit._source.data };
}
