import { revokeAgent, type JobQueue } from '@fleet/background-jobs';
import { parsePolicyActionId, type AckEvent, type AckResponse, type AckResponseItem } from '@fleet/agent-protocol';
import type { NotificationBus } from '@fleet/notifications';
import { BoundedCache, compareSemVer, parseSemVer, type ApiKeyAuthenticator, type Logger, type SemVer } from '@fleet/service-kit';
import { retiringKeyIds, type ActionDoc, type ActionResultDoc, type AgentDoc, type FleetStore, type Hit } from '@fleet/store';
import { STATUS_CODES } from 'node:http';

export interface AckDeps {
  store: FleetStore;
  bus: NotificationBus;
  /** Revocations and output-key retirement run as background jobs. */
  jobs: Pick<JobQueue, 'enqueue'>;
  authenticator: ApiKeyAuthenticator;
  actionCache: ActionLookupCache;
  logger: Logger;
  now?: () => Date;
}

interface CachedAction {
  type: string;
  namespaces?: string[];
  /** The action's `@timestamp`. */
  createdAt?: string;
  /** `_seq_no` of the document addressed to the agent. */
  seqNo: number;
  /** UPGRADE: the version it upgrades to. */
  targetVersion?: string;
}

interface CacheEntry {
  value: CachedAction;
  /** The agents the action's first document is addressed to. */
  agents: ReadonlySet<string>;
}

const describeAction = (hit: Hit<ActionDoc>): CachedAction => {
  const doc = hit._source;
  const data = doc.data;
  const version = data && typeof data === 'object' && !Array.isArray(data) ? data.version : undefined;
  return {
    type: doc.type,
    seqNo: hit._seq_no,
    ...(doc.namespaces ? { namespaces: doc.namespaces } : {}),
    ...(doc['@timestamp'] ? { createdAt: doc['@timestamp'] } : {}),
    ...(doc.type === 'UPGRADE' && typeof version === 'string' ? { targetVersion: version } : {}),
  };
};

/**
 * `action_id` → what an ack needs of the action, for the agents it is addressed to: bounded and
 * short-lived (the reference's 5 min action cache). An action's first document is cached with its
 * agents, so the acks of one action by many agents cost one store read; an agent it does not list
 * is looked up in the store (an action may be split over several documents). The cache is bounded
 * by entries and by the agent ids they hold together.
 */
export class ActionLookupCache {
  private readonly entries: BoundedCache<string, CacheEntry>;

  constructor(
    private readonly store: FleetStore,
    ttlMs = 300_000,
    maxEntries = 10_000,
    maxTargets = 200_000,
  ) {
    this.entries = new BoundedCache({ maxEntries, ttlMs, maxWeight: maxTargets, weigh: (e) => e.agents.size });
  }

  /** The action as addressed to `agentId`, or undefined when there is none (or not for this agent). */
  async find(actionId: string, agentId: string): Promise<CachedAction | undefined> {
    let entry = this.entries.get(actionId);
    if (!entry) {
      const first = await this.store.actions.findByActionId(actionId);
      if (!first) return undefined;
      entry = { value: describeAction(first), agents: new Set(first._source.agents ?? []) };
      this.entries.set(actionId, entry);
    }
    if (entry.agents.has(agentId)) return entry.value;
    const own = await this.store.actions.findForAgent(actionId, agentId);
    return own ? describeAction(own) : undefined;
  }
}

const item = (status: number): AckResponseItem => ({ status, message: STATUS_CODES[status] ?? '' });

/**
 * Acknowledgements: one result per event, stored create-only as `<action_id>:<agent_id>` (a
 * repeat is a success), policy acks advance `policy_revision_idx`, successful UNENROLL acks
 * deactivate the agent and revoke its keys, unknown actions (and actions not addressed to this agent) answer 404 so the agent retries.
 */
export async function handleAcks(
  deps: AckDeps,
  agent: Hit<AgentDoc>,
  events: AckEvent[],
  /** The version the agent runs, from the request's User-Agent when it carries one. */
  agentVersion?: SemVer,
): Promise<{ status: number; body: AckResponse }> {
  const now = (deps.now ?? (() => new Date()))();
  const agentId = agent._id;
  const items: AckResponseItem[] = new Array<AckResponseItem>(events.length);
  const results: { index: number; doc: ActionResultDoc; event: AckEvent; action: CachedAction }[] = [];
  let policyAck: { revision: number } | undefined;
  let unenroll = false;
  const upgradeFields: Partial<AgentDoc> = {};

  for (const [index, event] of events.entries()) {
    if (event.agent_id && event.agent_id !== agentId) {
      items[index] = item(400);
      continue;
    }
    const policy = parsePolicyActionId(event.action_id);
    if (policy) {
      if (!event.error && policy.policyId === agent._source.policy_id && policy.revision > (policyAck?.revision ?? -1)) {
        policyAck = { revision: policy.revision };
      }
      items[index] = item(200);
      continue;
    }
    // An action addressed to other agents is, for this one, an action that does not exist: its
    // ack must not store a result under this agent's name.
    const action = await deps.actionCache.find(event.action_id, agentId);
    if (!action) {
      items[index] = item(404);
      continue;
    }
    if (predatesEnrollment(action, agent._source)) {
      // Addressed to this id before the agent enrolled (again): never delivered to this
      // enrollment, so its ack changes nothing (an old UNENROLL must not unenroll the new agent).
      deps.logger.info({ 'fleet.agent.id': agentId, 'fleet.action.id': event.action_id }, 'ack of an action older than the enrollment ignored');
      items[index] = item(200);
      continue;
    }
    results.push({ index, doc: resultDoc(event, agentId, action, now), event, action });
  }

  if (results.length) {
    const outcomes = await deps.store.actionResults.createMany(results.map((r) => r.doc));
    for (const [i, r] of results.entries()) {
      if (outcomes[i] === 'rejected') {
        // This result alone could not be stored: the agent is told, nothing follows from it.
        deps.logger.warn({ 'fleet.agent.id': agentId, 'fleet.action.id': r.event.action_id }, 'action result refused by the store');
        items[r.index] = item(400);
        continue;
      }
      items[r.index] = item(200);
      const { action, event } = r;
      if (action.type === 'UPGRADE') Object.assign(upgradeFields, upgradeAckFields(agent._source, event, action, agentVersion, now));
      if ((action.type === 'UNENROLL' || action.type === 'MIGRATE') && !event.error) unenroll = true;
    }
  }

  if (Object.keys(upgradeFields).length) await deps.store.agents.update(agentId, upgradeFields);

  if (policyAck) {
    const acked = policyAck.revision;
    const updated = await deps.store.agents.mutate(agentId, (doc) =>
      doc.policy_id === agent._source.policy_id && acked > (doc.policy_revision_idx ?? -1)
        ? { policy_revision_idx: acked, updated_at: now.toISOString() }
        : undefined,
    );
    // The agent runs the new revision: the output keys it no longer uses can be revoked.
    if (retiringKeyIds(updated._source).length) {
      await deps.jobs.enqueue('retire-output-keys', { agent_id: agentId }, { dedupeId: `${agentId}/${updated._seq_no}` });
    }
  }

  if (unenroll) await deactivateAgent(deps, agentId, now);

  const statuses = items.map((i) => i.status);
  const worst = Math.max(200, ...statuses);
  const errors = statuses.some((s) => s !== 200);
  return { status: worst, body: { action: 'acks', ...(errors ? { errors: true } : {}), items } };
}

function resultDoc(event: AckEvent, agentId: string, action: CachedAction, now: Date): ActionResultDoc {
  const doc: ActionResultDoc = {
    '@timestamp': event.timestamp ?? now.toISOString(),
    action_id: event.action_id,
    agent_id: agentId,
    ...(action.namespaces ? { namespaces: action.namespaces } : {}),
    ...(event.error ? { error: event.error } : {}),
  };
  if (action.type === 'REQUEST_DIAGNOSTICS' && event.data !== undefined) doc.data = event.data;
  if (action.type === 'INPUT_ACTION') {
    if (event.action_input_type !== undefined) doc.action_input_type = event.action_input_type;
    if (event.started_at !== undefined) doc.started_at = event.started_at;
    if (event.completed_at !== undefined) doc.completed_at = event.completed_at;
    if (event.action_data !== undefined) doc.action_data = event.action_data;
    if (event.action_response !== undefined) doc.action_response = event.action_response;
  }
  return doc;
}

/** Whether the action was addressed to the agent's id before its (latest) enrollment. */
function predatesEnrollment(action: CachedAction, agent: AgentDoc): boolean {
  if (agent.enrollment_action_seq_no !== undefined) return action.seqNo <= agent.enrollment_action_seq_no;
  // Enrolled by another Fleet Server: by time; enrolled_at has whole seconds, so an action of the
  // same second counts as after (the reference's behaviour).
  if (!action.createdAt || !agent.enrolled_at) return false;
  return Date.parse(action.createdAt) < Date.parse(agent.enrolled_at);
}

/**
 * What an UPGRADE ack records. An ack without an error means the upgrade is done only when the agent
 * already runs the target version (an upgraded legacy agent acks from its new binary) or when
 * nothing says otherwise. A current agent acks as soon as it has handled the action and reports the
 * outcome in `upgrade_details`: after UPG_FAILED, or while it still runs an older version, the ack
 * records nothing and `upgraded_at` stays unset (the reference sets it, recording a failed upgrade
 * as done). With an error: failed (upgrade_started_at cleared) unless the payload says it retries.
 */
function upgradeAckFields(agent: AgentDoc, event: AckEvent, action: CachedAction, agentVersion: SemVer | undefined, now: Date): Partial<AgentDoc> {
  if (!event.error) {
    const details = agent.upgrade_details;
    const failed = details?.action_id === event.action_id && details.state === 'UPG_FAILED';
    const running = agentVersion ?? parseSemVer(agent.agent?.version ?? '');
    const target = action.targetVersion ? parseSemVer(action.targetVersion) : undefined;
    const notThereYet = running !== undefined && target !== undefined && compareSemVer(running, target) < 0;
    if (failed || notThereYet) return {};
    return { upgrade_started_at: null, upgraded_at: now.toISOString(), ...(details ? {} : { upgrade_attempts: null }) };
  }
  const payload = event.payload;
  const retrying = payload && typeof payload === 'object' && !Array.isArray(payload) && payload.retry === true;
  return retrying ? {} : { upgrade_started_at: null };
}

/** Deactivates an agent after its UNENROLL ack: keys revoked at once, open polls ended. */
export async function deactivateAgent(deps: Pick<AckDeps, 'store' | 'bus' | 'jobs' | 'authenticator' | 'logger'>, agentId: string, now: Date): Promise<void> {
  const updated = await deps.store.agents.update(agentId, {
    active: false,
    unenrolled_at: now.toISOString(),
    updated_at: now.toISOString(),
  });
  const keyIds = await revokeAgent({ ...deps, forget: (ids) => deps.authenticator.forget(ids) }, agentId, updated._source, 'unenrolled');
  deps.logger.info({ 'fleet.agent.id': agentId, keys: keyIds.length }, 'agent unenrolled; key revocation queued');
}
