import { revokeAgent, type JobQueue } from '@fleet/background-jobs';
import type { NotificationBus } from '@fleet/notifications';
import { InputError, NotFoundError, parseSemVer } from '@fleet/service-kit';
import {
  deriveAgentStatus,
  newId,
  statusContexts,
  type ActionDoc,
  type AgentDoc,
  type AgentStatus,
  type FleetStore,
  type Hit,
  type StatusContext,
  type JsonValue,
} from '@fleet/store';
import { getAgentPolicy } from './agent-policies';
import type { AgentFilter } from './agent-kuery';
import type { ChangeSignal } from './change-dispatcher';

export interface AgentAdminDeps {
  store: FleetStore;
  /** Told of every action written, so the change monitor reads it at once. */
  changes: ChangeSignal;
  bus: NotificationBus;
  jobs: Pick<JobQueue, 'enqueue'>;
  actionExpirationDays: number;
  serverVersion: string;
  now?: () => Date;
}

/** An agent as Kibana's Fleet API returns it: the document, its id and derived status; secrets left out. */
export type AgentView = Omit<AgentDoc, 'replace_token' | 'outputs'> & {
  id: string;
  status: AgentStatus;
  policy_revision: number | null;
  outputs?: Record<string, { api_key_id?: string; type?: string }>;
};

const nowOf = (deps: { now?: () => Date }): Date => (deps.now ?? (() => new Date()))();

/** The agent as the API shows it; `contextOf` gives each policy's status context (see `statusContexts`). */
export async function agentView(hit: Hit<AgentDoc>, contextOf: (policyId: string) => Promise<StatusContext>): Promise<AgentView> {
  const { replace_token: _token, outputs, ...doc } = hit._source;
  const view: AgentView = {
    ...doc,
    id: hit._id,
    status: deriveAgentStatus(hit._source, await contextOf(hit._source.policy_id)),
    policy_revision: hit._source.policy_revision_idx ?? null,
  };
  if (outputs) {
    view.outputs = Object.fromEntries(
      Object.entries(outputs).map(([name, o]) => [name, { ...(o.api_key_id ? { api_key_id: o.api_key_id } : {}), ...(o.type ? { type: o.type } : {}) }]),
    );
  }
  return view;
}

export async function listAgents(
  deps: AgentAdminDeps,
  filter: AgentFilter,
  page: { page: number; perPage: number; showInactive: boolean },
): Promise<{ items: AgentView[]; total: number }> {
  if (filter.matchNone) return { total: 0, items: [] };
  const now = nowOf(deps);
  const res = await deps.store.agents.query({ ...filter, ...page, now });
  const contextOf = statusContexts(deps.store, now);
  return { total: res.total, items: await Promise.all(res.items.map((h) => agentView(h, contextOf))) };
}

export async function getAgent(store: FleetStore, id: string): Promise<Hit<AgentDoc>> {
  const hit = await store.agents.get(id);
  if (!hit) throw new NotFoundError(`Agent ${id} not found`);
  return hit;
}

export interface NewAction {
  type: string;
  data?: JsonValue;
  start_time?: string;
  expiration?: string;
  rollout_duration_seconds?: number;
}

/** Writes a `.fleet-actions` document for agents (Kibana's createAgentAction). */
export async function createAction(deps: AgentAdminDeps, agentIds: string[], action: NewAction, user: string): Promise<Hit<ActionDoc>> {
  const now = nowOf(deps);
  const expiration = action.expiration ?? new Date(now.getTime() + deps.actionExpirationDays * 86_400_000).toISOString();
  if (Date.parse(expiration) <= now.getTime()) throw new InputError('expiration must be in the future');
  const doc: ActionDoc = {
    action_id: newId(),
    '@timestamp': now.toISOString(),
    expiration,
    type: action.type,
    agents: agentIds,
    user_id: user,
    ...(action.data !== undefined ? { data: action.data } : {}),
    ...(action.start_time ? { start_time: action.start_time } : {}),
    ...(action.rollout_duration_seconds ? { rollout_duration_seconds: action.rollout_duration_seconds } : {}),
  };
  const created = await deps.store.actions.create(doc);
  deps.changes.wrote('actions');
  return created;
}

/**
 * Unenrolls an agent. Without `revoke`, an UNENROLL action is sent and the agent is deactivated
 * when it acknowledges; with `revoke` (Kibana's force), it is deactivated and its keys revoked now.
 */
export async function unenrollAgent(deps: AgentAdminDeps, id: string, revoke: boolean, user: string): Promise<void> {
  const hit = await getAgent(deps.store, id);
  if (!hit._source.active) throw new InputError(`Agent ${id} is already unenrolled`);
  const now = nowOf(deps);
  if (!revoke) {
    await createAction(deps, [id], { type: 'UNENROLL' }, user);
    await deps.store.agents.update(id, { unenrollment_started_at: now.toISOString(), updated_at: now.toISOString() });
    return;
  }
  const updated = await deps.store.agents.update(id, {
    active: false,
    unenrolled_at: now.toISOString(),
    unenrollment_started_at: hit._source.unenrollment_started_at ?? now.toISOString(),
    unenrolled_reason: 'manual',
    updated_at: now.toISOString(),
  });
  await revokeAgent(deps, id, updated._source, 'unenrolled');
}

/** Moves an agent to another policy: the document first, then a POLICY_REASSIGN action. */
export async function reassignAgent(deps: AgentAdminDeps, id: string, policyId: string, user: string): Promise<void> {
  const hit = await getAgent(deps.store, id);
  if (!hit._source.active) throw new InputError(`Agent ${id} is not active`);
  await getAgentPolicy(deps.store, policyId);
  if (hit._source.policy_id === policyId) throw new InputError(`Agent ${id} is already assigned to policy ${policyId}`);
  const now = nowOf(deps);
  await deps.store.agents.update(id, {
    policy_id: policyId,
    policy_base_id: policyId.split('#')[0] ?? policyId,
    policy_revision_idx: null,
    updated_at: now.toISOString(),
  });
  await createAction(deps, [id], { type: 'POLICY_REASSIGN', data: { policy_id: policyId } }, user);
}

/** Sends an UPGRADE action; refuses versions newer than this Fleet Server's. */
export async function upgradeAgent(
  deps: AgentAdminDeps,
  id: string,
  input: { version: string; source_uri?: string; start_time?: string; rollout_duration_seconds?: number },
  user: string,
): Promise<void> {
  const hit = await getAgent(deps.store, id);
  if (!hit._source.active) throw new InputError(`Agent ${id} is not active`);
  const target = parseSemVer(input.version);
  const server = parseSemVer(deps.serverVersion);
  if (!target) throw new InputError(`version: ${input.version} is not a valid version`);
  if (server && (target.major > server.major || (target.major === server.major && target.minor > server.minor))) {
    throw new InputError(`Cannot upgrade agent to ${input.version} because it is higher than the Fleet Server version ${deps.serverVersion}`);
  }
  const now = nowOf(deps);
  await createAction(
    deps,
    [id],
    {
      type: 'UPGRADE',
      data: { version: input.version, ...(input.source_uri ? { source_uri: input.source_uri } : {}) },
      ...(input.start_time ? { start_time: input.start_time } : {}),
      ...(input.rollout_duration_seconds ? { rollout_duration_seconds: input.rollout_duration_seconds } : {}),
    },
    user,
  );
  await deps.store.agents.update(id, { upgrade_started_at: now.toISOString(), upgraded_at: null, updated_at: now.toISOString() });
}
