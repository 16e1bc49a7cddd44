import type { AgentDoc } from './documents';

/** Every API key an agent holds: its access key, output keys and keys waiting to be retired. */
export function agentKeyIds(agent: AgentDoc): string[] {
  const ids = new Set<string>([agent.access_api_key_id]);
  for (const output of Object.values(agent.outputs ?? {})) {
    if (output.api_key_id) ids.add(output.api_key_id);
    for (const r of output.to_retire_api_key_ids ?? []) ids.add(r.id);
  }
  return [...ids].filter(Boolean);
}

/** Ids of the output keys an agent's document lists for retirement. */
export function retiringKeyIds(agent: AgentDoc): string[] {
  return Object.values(agent.outputs ?? {}).flatMap((o) => (o.to_retire_api_key_ids ?? []).map((r) => r.id));
}
