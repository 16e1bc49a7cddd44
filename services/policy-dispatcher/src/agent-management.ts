import { revokeAgent, type JobQueue } from '@fleet/background-jobs';
import type { NotificationBus } from '@fleet/notifications';
import { MAX_AGENT_TAGS, MAX_BULK_AGENTS } from '@fleet/management-api';
import { InputError, NotFoundError, parseSemVer } from '@fleet/service-kit';
import {
  deriveAgentStatus,
  newId,
  statusContexts,
  type ActionDoc,
  type AgentDoc,
  type AgentSort,
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
  page: { page: number; perPage: number; showInactive: boolean; sort?: AgentSort },
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

/** Agent documents written per `updateMany`. */
const UPDATE_BATCH = 500;
/** Agents read by id at once when a bulk call lists ids. */
const READ_CONCURRENCY = 50;

/** The agents a bulk call names: a list of ids, or a kuery's filter. */
export type BulkTarget = { ids: string[] } | { filter: AgentFilter };

/** An agent a bulk call left alone, and why (a sentence that follows "Agent <id>"). */
export interface SkippedAgent {
  id: string;
  reason: string;
}

export interface BulkOutcome {
  actionId: string;
  /** How many agents the action was written for. */
  count: number;
  skipped: SkippedAgent[];
}

/**
 * The agents of a bulk call: listed ids (unknown ones skipped as not found) or the active agents
 * matching the filter, at most `MAX_BULK_AGENTS`.
 */
export async function resolveBulkTarget(deps: AgentAdminDeps, target: BulkTarget): Promise<{ agents: Hit<AgentDoc>[]; skipped: SkippedAgent[] }> {
  if ('filter' in target) {
    if (target.filter.matchNone) return { agents: [], skipped: [] };
    const page = await deps.store.agents.query({ ...target.filter, page: 1, perPage: MAX_BULK_AGENTS, now: nowOf(deps) });
    return { agents: page.items, skipped: [] };
  }
  const ids = [...new Set(target.ids)].slice(0, MAX_BULK_AGENTS);
  const agents: Hit<AgentDoc>[] = [];
  const skipped: SkippedAgent[] = [];
  for (let i = 0; i < ids.length; i += READ_CONCURRENCY) {
    const chunk = ids.slice(i, i + READ_CONCURRENCY);
    const found = await Promise.all(chunk.map((id) => deps.store.agents.get(id)));
    found.forEach((hit, j) => {
      if (hit) agents.push(hit);
      else skipped.push({ id: chunk[j] ?? '', reason: 'not found' });
    });
  }
  return { agents, skipped };
}

/** What one kind of bulk change does to each agent. */
interface AgentChange {
  /** Why the agent cannot take the change, or undefined when it can. */
  refuse(doc: AgentDoc): string | undefined;
  /** The fields to write on each agent that takes it (undefined: none). */
  fields?(doc: AgentDoc, now: string): Partial<AgentDoc>;
  /** The action written for the agents that take it (none: the change is the document write alone). */
  action?: NewAction;
  /** Agent documents are written before the action (a reassign), otherwise after it. */
  writeFirst?: boolean;
  /**
   * The action is done when written (Kibana's UPDATE_TAGS, FORCE_UNENROLL): a result is stored for
   * every agent at once, and no agent is sent it (the type is not deliverable).
   */
  completeAtOnce?: boolean;
}

/**
 * The one path of every agent change, one agent or ten thousand: agents that cannot take it are
 * skipped (and named), one action document is written for the others, their documents are
 * updated in batches. Nothing is written when no agent can take it (an `InputError` says why).
 */
async function applyChange(deps: AgentAdminDeps, target: { agents: Hit<AgentDoc>[]; skipped: SkippedAgent[] }, change: AgentChange, user: string): Promise<BulkOutcome & { taken: Hit<AgentDoc>[] }> {
  const skipped = [...target.skipped];
  const taken: Hit<AgentDoc>[] = [];
  for (const hit of target.agents) {
    const reason = change.refuse(hit._source);
    if (reason) skipped.push({ id: hit._id, reason });
    else taken.push(hit);
  }
  if (!taken.length) {
    const first = skipped[0];
    throw new InputError(first ? `Agent ${first.id} ${first.reason}${skipped.length > 1 ? ` (and ${skipped.length - 1} more agents cannot take it)` : ''}` : 'No agent matches');
  }
  const now = nowOf(deps).toISOString();
  const write = async () => {
    if (!change.fields) return;
    for (let i = 0; i < taken.length; i += UPDATE_BATCH) {
      const batch = taken.slice(i, i + UPDATE_BATCH);
      const outcomes = await deps.store.agents.updateMany(batch.map((h) => ({ id: h._id, fields: { ...change.fields?.(h._source, now), updated_at: now } })));
      outcomes.forEach((o, j) => {
        if (o !== 'updated') skipped.push({ id: batch[j]?._id ?? '', reason: o === 'not_found' ? 'not found' : 'could not be updated' });
      });
    }
  };
  if (change.writeFirst || !change.action) await write();
  if (!change.action) return { actionId: '', count: taken.length, skipped, taken };
  const action = await createAction(deps, taken.map((h) => h._id), change.action, user);
  if (!change.writeFirst) await write();
  if (change.completeAtOnce) {
    for (let i = 0; i < taken.length; i += UPDATE_BATCH) {
      await deps.store.actionResults.createMany(
        taken.slice(i, i + UPDATE_BATCH).map((h) => ({ '@timestamp': now, action_id: action._source.action_id, agent_id: h._id, completed_at: now })),
      );
    }
  }
  return { actionId: action._source.action_id, count: taken.length, skipped, taken };
}

const inactive = (doc: AgentDoc): string | undefined => (doc.active ? undefined : 'is not active');

/** A single-agent change: the agent must exist and take it (a refusal is the 400 it always was). */
async function applyToOne(deps: AgentAdminDeps, id: string, change: AgentChange, user: string) {
  const hit = await getAgent(deps.store, id);
  return applyChange(deps, { agents: [hit], skipped: [] }, change, user);
}

/**
 * Unenrolls agents. Without `revoke`, an UNENROLL action is sent and each agent is deactivated when
 * it acknowledges; with `revoke` (Kibana's force), they are deactivated and their keys revoked now
 * (a bulk call records it as a FORCE_UNENROLL action, complete at once, as Kibana's bulk does).
 */
export async function unenrollAgents(deps: AgentAdminDeps, target: BulkTarget, revoke: boolean, user: string): Promise<BulkOutcome> {
  return unenroll(deps, await resolveBulkTarget(deps, target), revoke, true, user);
}

/** One agent: a forced unenroll writes no action (as Kibana's forceUnenrollAgent). */
export async function unenrollAgent(deps: AgentAdminDeps, id: string, revoke: boolean, user: string): Promise<void> {
  await unenroll(deps, { agents: [await getAgent(deps.store, id)], skipped: [] }, revoke, false, user);
}

async function unenroll(deps: AgentAdminDeps, target: { agents: Hit<AgentDoc>[]; skipped: SkippedAgent[] }, revoke: boolean, bulk: boolean, user: string): Promise<BulkOutcome> {
  const refuse = (doc: AgentDoc) => (doc.active ? undefined : 'is already unenrolled');
  if (!revoke) {
    return strip(await applyChange(deps, target, { refuse, action: { type: 'UNENROLL' }, fields: (_doc, now) => ({ unenrollment_started_at: now }) }, user));
  }
  const done = await applyChange(
    deps,
    target,
    {
      refuse,
      ...(bulk ? { action: { type: 'FORCE_UNENROLL' } } : {}),
      writeFirst: true,
      completeAtOnce: true,
      fields: (doc, now) => ({ active: false, unenrolled_at: now, unenrollment_started_at: doc.unenrollment_started_at ?? now, unenrolled_reason: 'manual' }),
    },
    user,
  );
  // Written inactive first (a racing checkin never meets revoked keys on an active agent), then revoked.
  for (const hit of done.taken) await revokeAgent(deps, hit._id, { ...hit._source, active: false }, 'unenrolled');
  return strip(done);
}

const strip = (done: BulkOutcome): BulkOutcome => ({ actionId: done.actionId, count: done.count, skipped: done.skipped });

/** Moves agents to another policy: their documents first, then one POLICY_REASSIGN action. */
export async function reassignAgents(deps: AgentAdminDeps, target: BulkTarget, policyId: string, user: string): Promise<BulkOutcome> {
  await getAgentPolicy(deps.store, policyId);
  return strip(await applyChange(deps, await resolveBulkTarget(deps, target), reassignChange(policyId), user));
}

export async function reassignAgent(deps: AgentAdminDeps, id: string, policyId: string, user: string): Promise<void> {
  const hit = await getAgent(deps.store, id);
  if (!hit._source.active) throw new InputError(`Agent ${id} is not active`);
  await getAgentPolicy(deps.store, policyId);
  await applyChange(deps, { agents: [hit], skipped: [] }, reassignChange(policyId), user);
}

function reassignChange(policyId: string): AgentChange {
  return {
    refuse: (doc) => inactive(doc) ?? (doc.policy_id === policyId ? `is already assigned to policy ${policyId}` : undefined),
    writeFirst: true,
    fields: () => ({ policy_id: policyId, policy_base_id: policyId.split('#')[0] ?? policyId, policy_revision_idx: null }),
    action: { type: 'POLICY_REASSIGN', data: { policy_id: policyId } },
  };
}

export interface UpgradeInput {
  version: string;
  /** Upgrade agents already on the version too (as Kibana's force). */
  force?: boolean;
  source_uri?: string;
  start_time?: string;
  rollout_duration_seconds?: number;
}

/** Sends one UPGRADE action to agents; refuses versions newer than this Fleet Server's. */
export async function upgradeAgents(deps: AgentAdminDeps, target: BulkTarget, input: UpgradeInput, user: string): Promise<BulkOutcome> {
  const change = upgradeChange(deps, input);
  return strip(await applyChange(deps, await resolveBulkTarget(deps, target), change, user));
}

export async function upgradeAgent(deps: AgentAdminDeps, id: string, input: UpgradeInput, user: string): Promise<void> {
  await applyToOne(deps, id, upgradeChange(deps, input), user);
}

function upgradeChange(deps: AgentAdminDeps, input: UpgradeInput): AgentChange {
  const target = parseSemVer(input.version);
  const server = parseSemVer(deps.serverVersion);
  if (!target) throw new InputError(`version: ${input.version} is not a valid version`);
  if (server && (target.major > server.major || (target.major === server.major && target.minor > server.minor))) {
    throw new InputError(`Cannot upgrade agent to ${input.version} because it is higher than the Fleet Server version ${deps.serverVersion}`);
  }
  return {
    refuse: (doc) => inactive(doc) ?? (!input.force && doc.agent?.version === input.version ? `is already on version ${input.version}` : undefined),
    fields: (_doc, now) => ({ upgrade_started_at: now, upgraded_at: null }),
    action: {
      type: 'UPGRADE',
      data: { version: input.version, ...(input.source_uri ? { source_uri: input.source_uri } : {}) },
      ...(input.start_time ? { start_time: input.start_time } : {}),
      ...(input.rollout_duration_seconds ? { rollout_duration_seconds: input.rollout_duration_seconds } : {}),
    },
  };
}

/** Most tags an agent carries, and their length. */

/**
 * Adds and removes tags on agents (Kibana's bulk_update_agent_tags): one UPDATE_TAGS action,
 * complete at once; agents whose tags would not change are skipped.
 */
export async function updateAgentTags(deps: AgentAdminDeps, target: BulkTarget, change: { add: string[]; remove: string[] }, user: string): Promise<BulkOutcome> {
  const next = (doc: AgentDoc): string[] => {
    const tags = (doc.tags ?? []).filter((t) => !change.remove.includes(t));
    for (const t of change.add) if (!tags.includes(t) && !change.remove.includes(t)) tags.push(t);
    return tags;
  };
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((t, i) => t === b[i]);
  return strip(
    await applyChange(
      deps,
      await resolveBulkTarget(deps, target),
      {
        refuse: (doc) => inactive(doc) ?? (same(next(doc), doc.tags ?? []) ? 'already has these tags' : next(doc).length > MAX_AGENT_TAGS ? `would carry more than ${MAX_AGENT_TAGS} tags` : undefined),
        fields: (doc) => ({ tags: next(doc) }),
        action: { type: 'UPDATE_TAGS', data: { tagsToAdd: change.add, tagsToRemove: change.remove } },
        completeAtOnce: true,
      },
      user,
    ),
  );
}

/** Kibana's update agent (`PUT /agents/:id`): replaces the agent's tags. */
export async function setAgentTags(deps: AgentAdminDeps, id: string, tags: string[]): Promise<Hit<AgentDoc>> {
  await getAgent(deps.store, id);
  return deps.store.agents.update(id, { tags: [...new Set(tags)], updated_at: nowOf(deps).toISOString() });
}
