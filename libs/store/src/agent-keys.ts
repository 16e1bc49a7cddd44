import type { AgentDoc, OutputApiKeyToRetire } from './documents';
import { REMOTE_ELASTICSEARCH, type RemoteKeyRef } from './remote-outputs';

/** Every API key an agent holds: its access key, output keys and keys waiting to be retired. */
export function agentKeyIds(agent: AgentDoc): string[] {
  const ids = new Set<string>([agent.access_api_key_id]);
  for (const output of Object.values(agent.outputs ?? {})) {
    if (output.api_key_id) ids.add(output.api_key_id);
    for (const r of output.to_retire_api_key_ids ?? []) ids.add(r.id);
  }
  return [...ids].filter(Boolean);
}

/**
 * The agent's keys that live on remote clusters (current and retiring ones), each with where it
 * was made: the output, and the policy and hosts hash when the entry recorded them.
 */
export function remoteKeyRefs(agent: AgentDoc): RemoteKeyRef[] {
  const refs = new Map<string, RemoteKeyRef>();
  const add = (ref: RemoteKeyRef | undefined): void => {
    if (ref && !refs.has(ref.id)) refs.set(ref.id, ref);
  };
  for (const [name, o] of Object.entries(agent.outputs ?? {})) {
    if (o.type === REMOTE_ELASTICSEARCH && o.api_key_id) add(keyRef(o.api_key_id, name, o.remote_policy_id, o.remote_hosts_hash));
  }
  for (const r of Object.values(agent.outputs ?? {}).flatMap((o) => o.to_retire_api_key_ids ?? [])) add(retiringRemoteKeyRef(r));
  return [...refs.values()];
}

/**
 * The agent's keys of `elasticsearch` outputs (current and retiring): made where `outputKeyTarget`
 * says, which is not the store's credentials when those are built-in.
 */
export function outputKeyIds(agent: AgentDoc): string[] {
  const remote = new Set(remoteKeyRefs(agent).map((r) => r.id));
  const ids = new Set<string>();
  for (const output of Object.values(agent.outputs ?? {})) {
    if (output.api_key_id) ids.add(output.api_key_id);
    for (const r of output.to_retire_api_key_ids ?? []) ids.add(r.id);
  }
  return [...ids].filter((id) => id && !remote.has(id));
}

/** A retiring key that lives on a remote output's cluster, with where it was made; undefined for a local key. */
export function retiringRemoteKeyRef(r: OutputApiKeyToRetire): RemoteKeyRef | undefined {
  if (r.output_type !== REMOTE_ELASTICSEARCH || !r.output || !r.id) return undefined;
  return keyRef(r.id, r.output, r.remote_policy_id, r.remote_hosts_hash);
}

const keyRef = (id: string, output: string, policyId: string | undefined, hostsHash: string | undefined): RemoteKeyRef => ({
  id,
  output,
  ...(policyId ? { policyId } : {}),
  ...(hostsHash ? { hostsHash } : {}),
});

/** Ids of the output keys an agent's document lists for retirement. */
export function retiringKeyIds(agent: AgentDoc): string[] {
  return Object.values(agent.outputs ?? {}).flatMap((o) => (o.to_retire_api_key_ids ?? []).map((r) => r.id));
}
