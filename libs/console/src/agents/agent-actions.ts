import { apiFetch } from '../api-client';
import { agentHostname, type AgentView } from './agent-types';

/**
 * What an action is for: one agent (its own endpoint) or several (the bulk endpoint, with the ids
 * selected on the page or, for "everything matching", the list's kuery).
 */
export type AgentTarget =
  | { kind: 'agent'; agent: AgentView }
  | { kind: 'bulk'; agents: string[] | string; count: number };

/** The answer of a bulk call (contract): one action for all, and the agents it skipped. */
interface BulkAnswer {
  actionId: string;
  skipped?: { id: string; reason: string }[];
}

export interface ActionOutcome {
  /** One line for the toast. */
  message: string;
  /** The action written, when there is one: its live progress is at /rollouts/actions/<id>. */
  actionId?: string;
  skipped?: { id: string; reason: string }[];
}

const agentPath = (id: string, tail = '') => `/api/fleet/agents/${encodeURIComponent(id)}${tail}`;

export const targetLabel = (target: AgentTarget): string =>
  target.kind === 'agent' ? agentHostname(target.agent) : `${target.count.toLocaleString()} agent${target.count === 1 ? '' : 's'}`;

async function bulk(path: string, target: Extract<AgentTarget, { kind: 'bulk' }>, body: object, verb: string): Promise<ActionOutcome> {
  const answer = await apiFetch<BulkAnswer>(`/api/fleet/agents/${path}`, { method: 'POST', body: { agents: target.agents, ...body } });
  const skipped = answer.skipped ?? [];
  const done = skipped.length ? `; ${skipped.length} skipped` : '';
  return { message: `${verb} ${targetLabel(target)}${done}`, actionId: answer.actionId, skipped };
}

export async function reassignAgents(target: AgentTarget, policyId: string): Promise<ActionOutcome> {
  if (target.kind === 'bulk') return bulk('bulk_reassign', target, { policy_id: policyId }, 'Reassigning');
  await apiFetch(agentPath(target.agent.id, '/reassign'), { method: 'POST', body: { policy_id: policyId } });
  return { message: `${targetLabel(target)} reassigned to ${policyId}` };
}

export interface UpgradeInput {
  version: string;
  source_uri?: string;
  rollout_duration_seconds?: number;
}

export async function upgradeAgents(target: AgentTarget, input: UpgradeInput): Promise<ActionOutcome> {
  if (target.kind === 'bulk') return bulk('bulk_upgrade', target, input, `Upgrading to ${input.version}:`);
  await apiFetch(agentPath(target.agent.id, '/upgrade'), { method: 'POST', body: input });
  return { message: `Upgrading ${targetLabel(target)} to ${input.version}` };
}

export async function unenrollAgents(target: AgentTarget, revoke: boolean): Promise<ActionOutcome> {
  if (target.kind === 'bulk') return bulk('bulk_unenroll', target, revoke ? { revoke: true } : {}, revoke ? 'Revoked' : 'Unenrolling');
  await apiFetch(agentPath(target.agent.id, '/unenroll'), { method: 'POST', body: revoke ? { revoke: true } : {} });
  return { message: revoke ? `${targetLabel(target)} unenrolled and revoked` : `Unenrolling ${targetLabel(target)}` };
}

/** The agent's tags become exactly `tags` (Kibana's update agent). */
export async function setAgentTags(agent: AgentView, tags: string[]): Promise<ActionOutcome> {
  await apiFetch(agentPath(agent.id), { method: 'PUT', body: { tags } });
  return { message: `Tags of ${agentHostname(agent)} saved` };
}

/** Adds and removes tags on each targeted agent (one action for all). */
export async function bulkUpdateTags(target: Extract<AgentTarget, { kind: 'bulk' }>, add: string[], remove: string[]): Promise<ActionOutcome> {
  return bulk('bulk_update_agent_tags', target, { ...(add.length ? { tagsToAdd: add } : {}), ...(remove.length ? { tagsToRemove: remove } : {}) }, 'Updating tags of');
}

export async function requestDiagnostics(target: AgentTarget): Promise<ActionOutcome> {
  if (target.kind === 'bulk') return bulk('bulk_request_diagnostics', target, {}, 'Requested diagnostics from');
  const answer = await apiFetch<{ actionId: string }>(agentPath(target.agent.id, '/request_diagnostics'), { method: 'POST', body: {} });
  return { message: `Requested diagnostics from ${targetLabel(target)}`, actionId: answer.actionId };
}
