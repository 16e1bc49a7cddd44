import type { NotificationBus } from '@fleet/notifications';
import {
  DocumentNotFoundError,
  outputKeyTarget,
  retiringRemoteKeyRef,
  revokeRemoteKeys,
  type AgentDoc,
  type AgentOutput,
  type FleetStore,
  type RemoteKeyRef,
} from '@fleet/store';
import type { JobLogger } from './job-logger';
import { expireAbandonedUploads } from './upload-cleanup';
import { revokeAgent } from './agent-revocation';
import { sampleAgentStatus } from './status-history';
import { type JobHandlers, type JobOutcome, type JobQueue } from './job-queue';
import { remoteKeyRefsOf } from './remote-revocation';

export interface FleetJobDeps {
  store: FleetStore;
  bus: NotificationBus;
  /** Where follow-up jobs go (the sweep hands revocations to their own job). */
  jobs: Pick<JobQueue, 'enqueue'>;
  logger: JobLogger;
  /** Expired actions are deleted once they expired this long ago. */
  retainExpiredActionsMs: number;
  /** Agents unenrolled per policy per sweep (the next sweep takes the rest). */
  sweepBatchSize: number;
  /** Uploads not finished this long after they began are abandoned (default 24 h, as the reference). */
  uploadExpiryMs?: number;
  /** The period of the status sampling job (how many samples make 24 h of history). */
  statusSampleIntervalMs?: number;
  /** Revisions of a policy read at most to find the cluster of a remote output key being revoked. */
  remoteRevocationSearchRevisions?: number;
  now?: () => Date;
}

/** What the revocation jobs need besides the store. */
export interface RevocationJobOptions {
  /** Where keys that cannot be revoked are reported. */
  logger?: JobLogger;
  /** Revisions of a policy read at most to find the cluster of a remote output key being revoked. */
  remoteRevocationSearchRevisions?: number;
}

/**
 * What each background job does. Every handler is idempotent: a job retried after a partial
 * failure, or run twice (a late enqueue after the inline fallback), leaves the same end state.
 */
export function createFleetJobHandlers(deps: FleetJobDeps): JobHandlers {
  const now = deps.now ?? (() => new Date());
  return {
    ...storeOnlyJobHandlers(deps.store, { logger: deps.logger, remoteRevocationSearchRevisions: deps.remoteRevocationSearchRevisions }),
    'gc-expired-actions': async () => ({
      deleted: await deps.store.actions.deleteExpiredBefore(new Date(now().getTime() - deps.retainExpiredActionsMs)),
    }),
    'sweep-inactive-agents': () => unenrollSilentAgents(deps, now()),
    'sample-agent-status': () =>
      sampleAgentStatus({ store: deps.store, board: deps.bus.board }, deps.statusSampleIntervalMs ?? 60_000, now()),
    'expire-abandoned-uploads': () =>
      expireAbandonedUploads(deps.store, deps.logger, new Date(now().getTime() - (deps.uploadExpiryMs ?? 86_400_000))),
  };
}

/**
 * The jobs that need nothing but the store: what a producer runs inline when the queue cannot
 * take the job (revocations must not wait for Redis to come back).
 */
export function storeOnlyJobHandlers(store: FleetStore, opts: RevocationJobOptions = {}): Pick<JobHandlers, 'revoke-api-keys' | 'retire-output-keys'> {
  return {
    'revoke-api-keys': async ({ api_key_ids, output_api_key_ids = [], agent_id, remote }): Promise<JobOutcome> => {
      const revoked = api_key_ids.length ? await store.credentials.invalidate(api_key_ids) : [];
      const outputs = await revokeOutputKeys(store, output_api_key_ids);
      const outcome: JobOutcome = { requested: api_key_ids.length + output_api_key_ids.length, revoked: revoked.length + outputs.revoked, ...outputs.unresolved };
      if (!remote) return outcome;
      const far = await revokeOnRemoteClusters(store, opts, agent_id, remote.policy_id, remoteKeyRefsOf(remote));
      return { ...outcome, remote_revoked: far.revoked, remote_unresolved: far.unresolved };
    },
    'retire-output-keys': ({ agent_id }) => retireOutputKeys(store, opts, agent_id),
  };
}

/** Keys listed in the warning about keys that cannot be revoked, at most. */
const UNRESOLVED_LOGGED = 50;

/**
 * Revokes keys on the clusters they were made on; a cluster that cannot be reached throws (the
 * job is retried). Keys whose cluster no revision read has are reported at warn and counted.
 */
async function revokeOnRemoteClusters(
  store: FleetStore,
  opts: RevocationJobOptions,
  agentId: string | undefined,
  agentPolicyId: string | undefined,
  keys: RemoteKeyRef[],
): Promise<{ revoked: number; unresolved: number }> {
  const { revoked, unresolved } = await revokeRemoteKeys(store, keys, { agentPolicyId, maxRevisions: opts.remoteRevocationSearchRevisions });
  if (unresolved.length) {
    opts.logger?.warn(
      { 'fleet.agent.id': agentId, remote_unresolved: unresolved.length, api_key_ids: unresolved.slice(0, UNRESOLVED_LOGGED) },
      'remote output keys not revoked: no policy revision read has their cluster',
    );
  }
  return { revoked, unresolved: unresolved.length };
}

/** Revokes the output keys an agent no longer uses and forgets them in its document. */
async function retireOutputKeys(store: FleetStore, opts: RevocationJobOptions, agentId: string): Promise<JobOutcome> {
  const current = await store.agents.get(agentId);
  if (!current) return { retired: 0 };
  const inUse = new Set(Object.values(current._source.outputs ?? {}).map((o) => o.api_key_id));
  const local: string[] = [];
  const remote: RemoteKeyRef[] = [];
  for (const r of Object.values(current._source.outputs ?? {}).flatMap((o) => o.to_retire_api_key_ids ?? [])) {
    if (inUse.has(r.id)) continue;
    const far = retiringRemoteKeyRef(r);
    if (far) remote.push(far);
    else local.push(r.id);
  }
  const retired = new Set([...local, ...remote.map((r) => r.id)]);
  if (!retired.size) return { retired: 0 };
  const unresolved = (await revokeOutputKeys(store, local)).unresolved;
  // On the cluster each key was made on; a key whose cluster no revision read has cannot be reached and is forgotten.
  const far = remote.length ? await revokeOnRemoteClusters(store, opts, agentId, current._source.policy_id, remote) : { unresolved: 0 };
  await store.agents.mutate(agentId, (doc) => {
    const outputs: Record<string, AgentOutput> = {};
    for (const [name, o] of Object.entries(doc.outputs ?? {})) {
      outputs[name] = { ...o, to_retire_api_key_ids: (o.to_retire_api_key_ids ?? []).filter((r) => !retired.has(r.id)) };
    }
    return { outputs };
  });
  return { retired: retired.size, ...unresolved, ...(remote.length ? { remote_unresolved: far.unresolved } : {}) };
}

/**
 * Invalidates `elasticsearch` outputs' keys where they are made (`outputKeyTarget`). With built-in
 * credentials and no output key cluster configured any more, they cannot be reached: counted as
 * `output_unresolved` (in the job's log line) and forgotten.
 */
async function revokeOutputKeys(store: FleetStore, ids: string[]): Promise<{ revoked: number; unresolved: { output_unresolved?: number } }> {
  if (!ids.length) return { revoked: 0, unresolved: {} };
  const target = outputKeyTarget(store);
  if (!target) return { revoked: 0, unresolved: { output_unresolved: ids.length } };
  return { revoked: (await target.credentials.invalidate(ids)).length, unresolved: {} };
}

/**
 * Kibana's "unenroll inactive agents": an agent silent for longer than its policy's
 * `unenroll_timeout` is unenrolled (reason `timeout`) and its keys revoked. Offline and inactive
 * are not written: like Kibana, every reader derives them from `last_checkin`, which costs no
 * writes however many agents go quiet.
 */
async function unenrollSilentAgents(deps: FleetJobDeps, now: Date): Promise<JobOutcome> {
  let unenrolled = 0;
  let policies = 0;
  for (let page = 1; ; page++) {
    const { items } = await deps.store.agentPolicies.list({ page, perPage: 100 });
    for (const policy of items) {
      if (!policy.unenroll_timeout || policy.unenroll_timeout <= 0) continue;
      policies++;
      const before = new Date(now.getTime() - policy.unenroll_timeout * 1_000);
      const silent = await deps.store.agents.listSilent({ policyId: policy.id, before, limit: deps.sweepBatchSize });
      for (const hit of silent) {
        if (await unenrollSilentAgent(deps, hit._id, before, now)) unenrolled++;
      }
    }
    if (items.length < 100) break;
  }
  return { policies, unenrolled };
}

async function unenrollSilentAgent(deps: FleetJobDeps, agentId: string, before: Date, now: Date): Promise<boolean> {
  let changed = false;
  let unenrolled: AgentDoc;
  try {
    const hit = await deps.store.agents.mutate(agentId, (doc) => {
      changed = stillSilent(doc, before);
      return changed ? { active: false, unenrolled_at: now.toISOString(), unenrolled_reason: 'timeout', updated_at: now.toISOString() } : undefined;
    });
    unenrolled = hit._source;
  } catch (err) {
    if (err instanceof DocumentNotFoundError) return false;
    throw err;
  }
  if (!changed) return false;
  const keys = await revokeAgent(deps, agentId, unenrolled, 'unenroll-timeout');
  deps.logger.info({ 'fleet.agent.id': agentId, revoked: keys.length }, 'silent agent unenrolled (unenroll_timeout)');
  return true;
}

function stillSilent(doc: AgentDoc, before: Date): boolean {
  const last = doc.last_checkin ?? doc.enrolled_at;
  return doc.active && typeof last === 'string' && Date.parse(last) < before.getTime();
}
