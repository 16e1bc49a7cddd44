import type { AgentDoc } from './documents';
import { REMOTE_ELASTICSEARCH } from './remote-outputs';

/** Every API key an agent holds: its access key, output keys and keys waiting to be retired. */
export function agentKeyIds(agent: AgentDoc): string[] {
  const ids = new Set<string>([agent.access_api_key_id]);
  for (const output of Object.values(agent.outputs ?? {})) {
    if (output.api_key_id) ids.add(output.api_key_id);
    for (const r of output.to_retire_api_key_ids ?? []) ids.add(r.id);
  }
  return [...ids].filter(Boolean);
}

/** The agent's keys that live on remote clusters, by output name (current and retiring ones). */
export function remoteKeyIds(agent: AgentDoc): Record<string, string[]> {
  const byOutput: Record<string, Set<string>> = {};
  const add = (output: string | undefined, id: string | undefined): void => {
    if (!output || !id) return;
    (byOutput[output] ??= new Set()).add(id);
  };
  for (const [name, output] of Object.entries(agent.outputs ?? {})) {
    if (output.type === REMOTE_ELASTICSEARCH) add(name, output.api_key_id);
    for (const r of output.to_retire_api_key_ids ?? []) if (r.output_type === REMOTE_ELASTICSEARCH) add(r.output, r.id);
  }
  return Object.fromEntries(Object.entries(byOutput).map(([k, v]) => [k, [...v]]));
}

/**
 * The agent's keys of `elasticsearch` outputs (current and retiring): made where `outputKeyTarget`
 * says, which is not the store's credentials when those are built-in.
 */
export function outputKeyIds(agent: AgentDoc): string[] {
  const remote = new Set(Object.values(remoteKeyIds(agent)).flat());
  const ids = new Set<string>();
  for (const output of Object.values(agent.outputs ?? {})) {
    if (output.api_key_id) ids.add(output.api_key_id);
    for (const r of output.to_retire_api_key_ids ?? []) ids.add(r.id);
  }
  return [...ids].filter((id) => id && !remote.has(id));
}

/** Ids of the output keys an agent's document lists for retirement. */
export function retiringKeyIds(agent: AgentDoc): string[] {
  return Object.values(agent.outputs ?? {}).flatMap((o) => (o.to_retire_api_key_ids ?? []).map((r) => r.id));
}
