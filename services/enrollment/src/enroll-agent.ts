import { enqueueRevocation, type JobQueue } from '@fleet/background-jobs';
import type { EnrollRequest, EnrollResponse } from '@fleet/agent-protocol';
import {
  AgentNotReplaceableError,
  ConflictError,
  type ConcurrencyGate,
  InvalidApiKeyError,
  type ApiKeyAuthenticator,
  type ApiKeyCredentials,
  type Logger,
} from '@fleet/service-kit';
import {
  DocumentConflictError,
  FreshCall,
  hashReplaceToken,
  isoSeconds,
  newId,
  verifyReplaceToken,
  type AgentDoc,
  type EnrollmentApiKeyDoc,
  type FleetStore,
  type Hit,
  type JsonObject,
  type Pbkdf2Options,
} from '@fleet/store';
import type { NotificationBus } from '@fleet/notifications';

export interface EnrollDeps {
  store: FleetStore;
  bus: NotificationBus;
  /** Revocations of replaced keys run as background jobs. */
  jobs: Pick<JobQueue, 'enqueue'>;
  authenticator: ApiKeyAuthenticator;
  logger: Logger;
  pbkdf2: Pbkdf2Options;
  /** Bounds the replace-token hashes running on libuv's threadpool (429 when saturated). */
  kdfGate: ConcurrencyGate;
  /** Store reads shared by concurrent enrollments (each still sees a read begun after it asked). */
  reads?: EnrollReads;
  now?: () => Date;
}

/**
 * An enrollment storm presents one enrollment key and starts every agent's action cursor at the
 * same checkpoint: concurrent requests share those reads instead of each making its own.
 */
export interface EnrollReads {
  keys: FreshCall<Hit<EnrollmentApiKeyDoc> | undefined>;
  checkpoint: FreshCall<number>;
}

export const createEnrollReads = (): EnrollReads => ({ keys: new FreshCall(), checkpoint: new FreshCall() });

/** Resolves an enrollment token to its active `.fleet-enrollment-api-keys` document. */
export async function authenticateEnrollmentKey(
  deps: Pick<EnrollDeps, 'store' | 'authenticator' | 'reads' | 'now'>,
  creds: ApiKeyCredentials,
): Promise<EnrollmentApiKeyDoc> {
  await deps.authenticator.authenticate(creds);
  // Only keys recorded in .fleet-enrollment-api-keys enroll (Kibana's keys too, whatever their metadata).
  const find = () => deps.store.enrollmentKeys.findActiveByApiKeyId(creds.id);
  const hit = await (deps.reads ? deps.reads.keys.run(creds.id, find) : find());
  if (!hit) throw new InvalidApiKeyError();
  const now = (deps.now ?? (() => new Date()))();
  if (hit._source.expire_at && Date.parse(hit._source.expire_at) <= now.getTime()) throw new InvalidApiKeyError();
  return hit._source;
}


/**
 * Enrolls an agent (elastic/fleet-server's enroll flow): handles `enrollment_id` retries and
 * `id` + `replace_token` replacement, creates the agent's access key, writes the agent document.
 */
export async function enrollAgent(
  deps: EnrollDeps,
  enrollmentKey: EnrollmentApiKeyDoc,
  request: EnrollRequest,
  agentVersion: string,
): Promise<EnrollResponse> {
  const now = (deps.now ?? (() => new Date()))();
  const { store } = deps;
  const revokeKeys: string[] = [];

  if (request.enrollment_id) {
    const previous = await store.agents.findByEnrollmentId(request.enrollment_id);
    // A host that failed mid-enrollment retries: drop the ghost that never checked in. Only a
    // ghost of the same policy: an enrollment token of another policy must not be able to delete
    // an agent it never enrolled (the reference deletes whatever matches the id).
    if (previous && !previous._source.last_checkin && previous._source.policy_id === enrollmentKey.policy_id) {
      revokeKeys.push(previous._source.access_api_key_id);
      await store.agents.delete(previous._id);
    }
  }

  const agentId = request.id ?? newId();
  let replacing: AgentDoc | undefined;
  if (request.id) {
    const existing = await store.agents.get(request.id);
    if (existing && !existing._source.active) {
      await store.agents.delete(existing._id);
    } else if (existing) {
      const stored = existing._source.replace_token;
      const presented = request.replace_token;
      const matches = stored && presented ? await deps.kdfGate.run(() => verifyReplaceToken(presented, stored)) : false;
      if (!matches || existing._source.policy_id !== enrollmentKey.policy_id) throw new AgentNotReplaceableError(agentId);
      replacing = existing._source;
      revokeKeys.push(existing._source.access_api_key_id);
    }
  }

  // The enrollment's action cursor starts at the current checkpoint: an agent (new, or again under
  // an id that was unenrolled or replaced) gets only actions created after it enrolled, never the
  // ones addressed to that id before (the reference starts at -1 and so replays them).
  const checkpoint = () => store.actions.checkpoint();
  const actionFloor = await (deps.reads ? deps.reads.checkpoint.run('actions', checkpoint) : checkpoint());
  const localMetadata = withAgentId(request.metadata.local, agentId);
  const tags = [...new Set(request.metadata.tags ?? [])].sort();
  const token = request.replace_token;
  const replaceTokenHash = token ? await deps.kdfGate.run(() => hashReplaceToken(token, deps.pbkdf2)) : null;

  // The reference's access key: no Elasticsearch privileges, it only authenticates to Fleet Server.
  const key = await store.credentials.create({
    name: agentId,
    metadata: { agent_id: agentId, managed: true, managed_by: 'fleet-server', type: 'access' },
    roleDescriptors: {
      'fleet-apikey-access': { cluster: [], applications: [{ application: 'fleet', privileges: ['no-privileges'], resources: ['*'] }] },
    },
  });

  const enrolledAt = isoSeconds(now);
  try {
    if (replacing) {
      await store.agents.update(agentId, {
        namespaces: enrollmentKey.namespaces ?? [],
        local_metadata: localMetadata,
        access_api_key_id: key.id,
        agent: { id: agentId, version: agentVersion },
        tags,
        policy_revision_idx: 0,
        action_seq_no: [actionFloor],
        enrollment_action_seq_no: actionFloor,
        policy_base_id: baseId(enrollmentKey.policy_id),
        updated_at: now.toISOString(),
        audit_unenrolled_time: null,
        audit_unenrolled_reason: null,
        unenrolled_at: null,
        unenrolled_reason: null,
        ...(replaceTokenHash ? { replace_token: replaceTokenHash } : {}),
        ...(request.enrollment_id ? { enrollment_id: request.enrollment_id } : {}),
      });
    } else {
      const doc: AgentDoc = {
        active: true,
        policy_id: enrollmentKey.policy_id,
        policy_base_id: baseId(enrollmentKey.policy_id),
        namespaces: enrollmentKey.namespaces ?? [],
        type: request.type,
        enrolled_at: enrolledAt,
        updated_at: now.toISOString(),
        local_metadata: localMetadata,
        access_api_key_id: key.id,
        action_seq_no: [actionFloor],
        enrollment_action_seq_no: actionFloor,
        agent: { id: agentId, version: agentVersion },
        tags,
        ...(request.enrollment_id ? { enrollment_id: request.enrollment_id } : {}),
        ...(replaceTokenHash ? { replace_token: replaceTokenHash } : {}),
      };
      // Read back by id only (the first checkin's realtime GET): no wait for searchability.
      await store.agents.create(agentId, doc, { searchable: false });
    }
  } catch (err) {
    await enqueueRevocation(deps.jobs, { api_key_ids: [key.id], agent_id: agentId, reason: 'enrollment-failed' });
    if (err instanceof DocumentConflictError) throw new ConflictError(`agent ${agentId} is being enrolled concurrently`);
    if (!replacing) await removeOrphan(deps, agentId, key.id);
    throw err;
  }

  if (revokeKeys.length) {
    await enqueueRevocation(deps.jobs, { api_key_ids: revokeKeys, agent_id: agentId, reason: 'replaced' });
    deps.authenticator.forget(revokeKeys);
    if (replacing) await deps.bus.publish({ kind: 'agent-revoked', agent_id: agentId, api_key_ids: revokeKeys });
  }
  deps.authenticator.prime(key, key.secret);
  deps.logger.info({ 'fleet.agent.id': agentId, 'fleet.policy.id': enrollmentKey.policy_id, replaced: Boolean(replacing) }, 'agent enrolled');

  return {
    action: 'created',
    item: {
      id: agentId,
      active: true,
      policy_id: enrollmentKey.policy_id,
      type: request.type,
      enrolled_at: replacing?.enrolled_at ?? enrolledAt,
      user_provided_metadata: null,
      local_metadata: localMetadata,
      access_api_key_id: key.id,
      access_api_key: key.token,
      actions: [],
      status: 'online',
      tags,
    },
  };
}

/**
 * A create the store failed to confirm (a timeout, a lost connection) may still have been written:
 * the agent is answered an error and retries under a new id, so a document left behind would be an
 * agent that never checks in, with a revoked key. It is removed when it is this attempt's (same
 * key); when the store cannot be reached for that either, the inactive sweep takes it later.
 */
async function removeOrphan(deps: Pick<EnrollDeps, 'store' | 'logger'>, agentId: string, keyId: string): Promise<void> {
  try {
    const written = await deps.store.agents.get(agentId);
    if (written?._source.access_api_key_id === keyId) await deps.store.agents.delete(agentId);
  } catch (err) {
    deps.logger.warn({ err, 'fleet.agent.id': agentId }, 'could not remove the document of a failed enrollment');
  }
}

/** `policy_base_id`: the policy id without any `#suffix`. */
const baseId = (policyId: string): string => policyId.split('#')[0] ?? policyId;

/** Sets `elastic.agent.id` to the agent id when the agent sent an `elastic.agent` object. */
function withAgentId(local: JsonObject, agentId: string): JsonObject {
  const elastic = local.elastic;
  if (!elastic || typeof elastic !== 'object' || Array.isArray(elastic)) return local;
  const agent = elastic.agent;
  if (!agent || typeof agent !== 'object' || Array.isArray(agent)) return local;
  return { ...local, elastic: { ...elastic, agent: { ...agent, id: agentId } } };
}
