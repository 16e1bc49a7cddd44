import type { AgentPolicyUpdateInput } from '@fleet/management-api';
import { ConflictError, InputError, NotFoundError } from '@fleet/service-kit';
import { hasFleetServerInput, newId, type AgentPolicyRecord, type FleetStore, type FullAgentPolicy } from '@fleet/store';
import type { ChangeSignal } from './change-dispatcher';
import type { FleetDefaultsConfig } from './dispatcher-config';
import type { KeyedMutex } from './keyed-mutex';
import { policyRevisionDoc, renderFullAgentPolicy } from './policy-renderer';

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
    const now = nowOf(deps);
    const record: AgentPolicyRecord = {
      ...contentOf(input),
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
    await deps.store.agentPolicies.create(record);
    await deps.store.policies.create(policyRevisionDoc(record, deps.defaults, now));
    deps.changes.wrote('policies');
    return record;
  });
}

/** Applies a change, bumps the revision and writes the new revision document. */
export async function updateAgentPolicy(deps: PolicyDeps, id: string, input: AgentPolicyInput, user: string): Promise<AgentPolicyRecord> {
  return deps.mutex.run(`policy:${id}`, async () => {
    const current = await getAgentPolicy(deps.store, id);
    if (input.name && input.name !== current.name) await assertNameFree(deps.store, input.name, id);
    // A revision document can exist past the record's revision: an earlier update whose write
    // landed after its caller had given up (a timeout), before the record was bumped. Agents may
    // already run it, so the next revision goes past it rather than colliding with it forever.
    const written = (await deps.store.policies.latest(id))?._source.revision_idx ?? 0;
    const now = nowOf(deps);
    const { has_fleet_server: _was, ...unflagged } = current;
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
    // The revision document goes first: if it fails, the record still names the last revision agents can get.
    await deps.store.policies.create(policyRevisionDoc(next, deps.defaults, now));
    deps.changes.wrote('policies');
    await deps.store.agentPolicies.put(next);
    return next;
  });
}

export async function getAgentPolicy(store: FleetStore, id: string): Promise<AgentPolicyRecord> {
  const record = await store.agentPolicies.get(id);
  if (!record) throw new NotFoundError(`Agent policy ${id} not found`);
  return record;
}

export async function deleteAgentPolicy(deps: PolicyDeps, id: string): Promise<{ id: string; name: string }> {
  return deps.mutex.run(`policy:${id}`, async () => {
    const record = await getAgentPolicy(deps.store, id);
    // As Kibana refuses to delete a hosted policy: the server's own Fleet Server policy, which its
    // replicas check in on, stays as long as the server keeps it.
    if (record.is_managed) throw new InputError(`Cannot delete hosted agent policy ${id}`);
    if ((await deps.store.agents.countByPolicy(id)) > 0) {
      throw new InputError('Cannot delete an agent policy that is assigned to any active or inactive agents');
    }
    await deps.store.agentPolicies.delete(id);
    return { id, name: record.name };
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
