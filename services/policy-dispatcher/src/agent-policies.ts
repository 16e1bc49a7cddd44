import type { AgentPolicyUpdateInput } from '@fleet/management-api';
import { ConflictError, InputError, NotFoundError, PreconditionFailedError } from '@fleet/service-kit';
import {
  DocumentConflictError,
  hasFleetServerInput,
  newId,
  outputCredentialNotes,
  outputKeyTarget,
  type AgentPolicyRecord,
  type FleetStore,
  type FullAgentPolicy,
  type OutputCredentialNote,
} from '@fleet/store';
import { unenrollAgents, type AgentAdminDeps } from './agent-management';
import type { ChangeSignal } from './change-dispatcher';
import type { FleetDefaultsConfig } from './dispatcher-config';
import type { KeyedMutex } from './keyed-mutex';
import { policyRevisionDoc, renderFullAgentPolicy } from './policy-renderer';
import { secretReferencesOf, storePolicySecrets } from './policy-secret-input';

export interface PolicyDeps {
  store: FleetStore;
  /** Told of every revision written, so the change monitor reads it at once. */
  changes: ChangeSignal;
  defaults: FleetDefaultsConfig;
  mutex: KeyedMutex;
  now?: () => Date;
}

/** What a create or an update sets: the fields of the API's bodies (a create needs a name). */
export type AgentPolicyInput = AgentPolicyUpdateInput & { id?: string };

const nowOf = (deps: PolicyDeps): Date => (deps.now ?? (() => new Date()))();

async function assertNameFree(store: FleetStore, name: string, exceptId?: string): Promise<void> {
  for (let page = 1; ; page++) {
    const res = await store.agentPolicies.list({ page, perPage: 1000 });
    if (res.items.some((p) => p.name === name && p.id !== exceptId)) throw new ConflictError(`Agent Policy '${name}' already exists`);
    if (res.items.length < 1000) return;
  }
}

/** Settings no API body sets: only the server's own policies are managed (Kibana's hosted policies). */
export interface ServerOwnedSettings {
  is_managed?: boolean;
}

/** Creates an agent policy at revision 1 and writes its first `.fleet-policies` revision. */
export async function createAgentPolicy(
  deps: PolicyDeps,
  input: AgentPolicyInput,
  user: string,
  owned: ServerOwnedSettings = {},
): Promise<AgentPolicyRecord> {
  if (!input.name) throw new InputError('name: is required');
  const name = input.name;
  const id = input.id ?? newId();
  return deps.mutex.run(`policy:${id}`, async () => {
    if (await deps.store.agentPolicies.get(id)) throw new ConflictError(`Agent policy ${id} already exists`);
    await assertNameFree(deps.store, name);
    const content = contentOf(await storePolicySecrets(deps.store.secrets, input));
    const now = nowOf(deps);
    const record: AgentPolicyRecord = {
      ...content,
      id,
      name,
      namespace: input.namespace ?? 'default',
      revision: 1,
      is_managed: owned.is_managed ?? false,
      ...fleetServerFlag(input.inputs),
      status: 'active',
      monitoring_enabled: input.monitoring_enabled ?? ['logs', 'metrics'],
      inactivity_timeout: input.inactivity_timeout ?? 1_209_600,
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
      updated_by: user,
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.unenroll_timeout !== undefined ? { unenroll_timeout: input.unenroll_timeout } : {}),
      ...(input.is_default !== undefined ? { is_default: input.is_default } : {}),
      ...(input.is_default_fleet_server !== undefined ? { is_default_fleet_server: input.is_default_fleet_server } : {}),
    };
    Object.assign(record, secretReferencesOf(record));
    await deps.store.agentPolicies.create(record);
    await deps.store.policies.create(policyRevisionDoc(record, deps.defaults, now));
    deps.changes.wrote('policies');
    return record;
  });
}

/** A policy's `ETag`: its revision, quoted. */
export const revisionTag = (revision: number): string => `"${revision}"`;

/** Preconditions of a change: the revision it is based on (`If-Match`). */
export interface PolicyPrecondition {
  ifMatch?: number | undefined;
}

/** Attempts of an unconditional update that meets a concurrent write (another replica's) before it gives up. */
const UPDATE_ATTEMPTS = 3;

function checkPrecondition(current: AgentPolicyRecord, pre: PolicyPrecondition): void {
  if (pre.ifMatch !== undefined && pre.ifMatch !== current.revision) {
    throw new PreconditionFailedError(`Agent policy ${current.id} is at revision ${current.revision}, not ${pre.ifMatch}`);
  }
}

/**
 * Applies a change, bumps the revision and writes the new revision document. The record is written
 * compare-and-set on the revision read, so two replicas never both write revision N+1: the loser
 * re-reads and applies its change on top (or, with `If-Match`, answers 412).
 */
export async function updateAgentPolicy(deps: PolicyDeps, id: string, input: AgentPolicyInput, user: string, pre: PolicyPrecondition = {}): Promise<AgentPolicyRecord> {
  return deps.mutex.run(`policy:${id}`, async () => {
    const read = await getAgentPolicy(deps.store, id);
    checkPrecondition(read, pre);
    // What can refuse the change is checked before any secret value is stored, so that a refused
    // change leaves none behind (see docs/secrets.md, "Lifetime of stored values").
    if (input.name && input.name !== read.name) await assertNameFree(deps.store, input.name, id);
    // Stored once, before the compare-and-set attempts, which all write the same references.
    const stored = await storePolicySecrets(deps.store.secrets, input);
    for (let attempt = 1; ; attempt++) {
      const current = await getAgentPolicy(deps.store, id);
      checkPrecondition(current, pre);
      try {
        return await writeUpdate(deps, current, stored, user);
      } catch (err) {
        if (!(err instanceof DocumentConflictError)) throw err;
        if (pre.ifMatch !== undefined) checkPrecondition(await getAgentPolicy(deps.store, id), pre);
        if (attempt >= UPDATE_ATTEMPTS) throw new ConflictError(`Agent policy ${id} was changed concurrently: retry`);
      }
    }
  });
}

async function writeUpdate(deps: PolicyDeps, current: AgentPolicyRecord, input: AgentPolicyInput, user: string): Promise<AgentPolicyRecord> {
  const { id } = current;
  if (input.name && input.name !== current.name) await assertNameFree(deps.store, input.name, id);
  // A revision document can exist past the record's revision: an earlier update whose write
  // landed after its caller had given up (a timeout), before the record was bumped. Agents may
  // already run it, so the next revision goes past it rather than colliding with it forever.
  const written = (await deps.store.policies.latest(id))?._source.revision_idx ?? 0;
  const now = nowOf(deps);
  const { has_fleet_server: _was, secret_references: _refs, ...unflagged } = current;
  const next: AgentPolicyRecord = {
    ...unflagged,
    ...contentOf(input),
    ...definedOf(input),
    id,
    revision: Math.max(current.revision, written) + 1,
    ...fleetServerFlag(input.inputs ?? current.inputs),
    updated_at: now.toISOString(),
    updated_by: user,
  };
  Object.assign(next, secretReferencesOf(next));
  // The revision document goes first: if it fails, the record still names the last revision agents can get.
  await deps.store.policies.create(policyRevisionDoc(next, deps.defaults, now));
  deps.changes.wrote('policies');
  await deps.store.agentPolicies.put(next, current.revision);
  return next;
}

/**
 * A policy as the management API answers it: the record, and `warnings` for each output whose
 * agents will get no key of their own (outputCredentialNotes), which the save is logged with too.
 */
export function policyAnswer(deps: Pick<PolicyDeps, 'store' | 'defaults'>, record: AgentPolicyRecord): { item: AgentPolicyRecord; warnings?: OutputCredentialNote[] } {
  const warnings = outputCredentialNotes(renderFullAgentPolicy(record, deps.defaults), outputKeyTarget(deps.store));
  return { item: record, ...(warnings.length ? { warnings } : {}) };
}

export async function getAgentPolicy(store: FleetStore, id: string): Promise<AgentPolicyRecord> {
  const record = await store.agentPolicies.get(id);
  if (!record) throw new NotFoundError(`Agent policy ${id} not found`);
  return record;
}

/** What a delete needs beyond the policy's deps: the agents' deps and the caller (a forced delete unenrolls). */
export type PolicyDeletionDeps = PolicyDeps & { agents: AgentAdminDeps; user: string };

/** Rounds of forced unenrollment (each up to MAX_BULK_AGENTS agents) before a forced delete gives up. */
const MAX_UNENROLL_ROUNDS = 100;

/**
 * Deletes a policy no agent is assigned to (400 otherwise, as Kibana). With `force`, its active
 * agents are unenrolled first (revoked at once, as the bulk unenroll with `revoke` does), then it
 * is deleted. `unenrolled` counts them, for the audit trail.
 */
export async function deleteAgentPolicy(
  deps: PolicyDeletionDeps,
  id: string,
  opts: PolicyPrecondition & { force?: boolean } = {},
): Promise<{ deleted: { id: string; name: string }; unenrolled: number }> {
  return deps.mutex.run(`policy:${id}`, async () => {
    const record = await getAgentPolicy(deps.store, id);
    // As Kibana refuses to delete a hosted policy: the server's own Fleet Server policy, which its
    // replicas check in on, stays as long as the server keeps it.
    if (record.is_managed) throw new InputError(`Cannot delete hosted agent policy ${id}`);
    checkPrecondition(record, opts);
    let unenrolled = 0;
    if ((await deps.store.agents.countByPolicy(id)) > 0) {
      if (!opts.force) throw new InputError('Cannot delete an agent policy that is assigned to any active or inactive agents');
      for (let round = 0; ; round++) {
        const active = await deps.store.agents.query({ policyIds: [id], page: 1, perPage: 1, now: nowOf(deps) });
        if (active.total === 0) break;
        if (round >= MAX_UNENROLL_ROUNDS) throw new ConflictError(`Agent policy ${id} still has ${active.total} active agents after unenrolling: retry`);
        unenrolled += (await unenrollAgents(deps.agents, { filter: { policyIds: [id] } }, true, deps.user)).count;
      }
    }
    if (!(await deps.store.agentPolicies.delete(id, record.revision))) {
      // Gone, or changed by another replica since it was read.
      const now = await getAgentPolicy(deps.store, id);
      checkPrecondition(now, opts);
      throw new ConflictError(`Agent policy ${id} was changed concurrently: retry`);
    }
    return { deleted: { id, name: record.name }, unenrolled };
  });
}

export async function fullAgentPolicy(deps: PolicyDeps, id: string): Promise<FullAgentPolicy> {
  const record = await getAgentPolicy(deps.store, id);
  const latest = await deps.store.policies.latest(id);
  return latest?._source.data ?? renderFullAgentPolicy(record, deps.defaults);
}

/** Kibana's `has_fleet_server`, present only on Fleet Server policies (as Kibana's records carry it). */
const fleetServerFlag = (inputs: AgentPolicyRecord['inputs']): Pick<AgentPolicyRecord, 'has_fleet_server'> =>
  hasFleetServerInput(inputs) ? { has_fleet_server: true } : {};

function contentOf(input: AgentPolicyInput): Partial<AgentPolicyRecord> {
  const out: Partial<AgentPolicyRecord> = {};
  if (input.outputs !== undefined) out.outputs = input.outputs;
  if (input.output_permissions !== undefined) out.output_permissions = input.output_permissions;
  if (input.inputs !== undefined) out.inputs = input.inputs;
  if (input.agent !== undefined) out.agent = input.agent;
  if (input.fleet !== undefined) out.fleet = input.fleet;
  return out;
}

function definedOf(input: AgentPolicyInput): Partial<AgentPolicyRecord> {
  const out: Partial<AgentPolicyRecord> = {};
  if (input.name !== undefined) out.name = input.name;
  if (input.namespace !== undefined) out.namespace = input.namespace;
  if (input.description !== undefined) out.description = input.description;
  if (input.monitoring_enabled !== undefined) out.monitoring_enabled = input.monitoring_enabled;
  if (input.inactivity_timeout !== undefined) out.inactivity_timeout = input.inactivity_timeout;
  if (input.unenroll_timeout !== undefined) out.unenroll_timeout = input.unenroll_timeout;
  if (input.is_default !== undefined) out.is_default = input.is_default;
  if (input.is_default_fleet_server !== undefined) out.is_default_fleet_server = input.is_default_fleet_server;
  return out;
}
