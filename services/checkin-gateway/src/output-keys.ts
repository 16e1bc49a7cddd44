import type { Logger } from '@fleet/service-kit';
import type { AgentDoc, AgentOutput, FleetStore, FullAgentPolicy, JsonObject, JsonValue } from '@fleet/store';
import { createHash } from 'node:crypto';

/** An `elasticsearch` output of a policy revision, with the role its agents' keys get. */
export interface ElasticsearchOutput {
  name: string;
  /** `output_permissions[<output>]`: role name → role descriptor, used as the key's role descriptors. */
  role: JsonObject;
  /** elastic/fleet-server's permissions hash of `role`, so keys rotate only when permissions change. */
  hash: string;
}

/**
 * Encodes a value as Go's `encoding/json` Encoder does for decoded JSON: object keys sorted, no
 * spaces, `<`, `>`, `&`, U+2028 and U+2029 escaped, and a trailing newline.
 */
export function goJson(value: JsonValue): string {
  const encode = (v: JsonValue): string => {
    if (v === null || typeof v !== 'object') return escapeGo(JSON.stringify(v));
    if (Array.isArray(v)) return `[${v.map(encode).join(',')}]`;
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${escapeGo(JSON.stringify(k))}:${encode(v[k] as JsonValue)}`).join(',')}}`;
  };
  return `${encode(value)}\n`;
}

const escapeGo = (json: string): string =>
  json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Hex SHA-256 of the Go encoding of an output's role (the reference's `permissions_hash`). */
export const permissionsHash = (role: JsonValue): string => createHash('sha256').update(goJson(role)).digest('hex');

/** The `elasticsearch` outputs of a policy that carry output permissions. */
export function elasticsearchOutputs(policy: FullAgentPolicy): ElasticsearchOutput[] {
  const out: ElasticsearchOutput[] = [];
  for (const [name, output] of Object.entries(policy.outputs ?? {})) {
    if (output.type !== 'elasticsearch') continue;
    const role = policy.output_permissions?.[name];
    if (!role) continue;
    out.push({ name, role, hash: permissionsHash(role) });
  }
  return out;
}

export interface OutputKeyDeps {
  store: FleetStore;
  logger: Logger;
}

/**
 * Makes sure the agent holds an API key for each output, with the output's current permissions:
 * a new key when it has none, a role update when the permissions hash changed. Keys of outputs
 * the policy no longer has are marked to be retired once the agent acks. New keys are recorded by
 * one guarded update: if a concurrent delivery recorded a key first, that one is kept and ours is
 * revoked, so no key is ever left unrecorded. Returns `id:key` per output.
 */
export async function ensureOutputKeys(deps: OutputKeyDeps, agentId: string, outputs: ElasticsearchOutput[]): Promise<Record<string, string>> {
  const current = await deps.store.agents.get(agentId);
  if (!current) return {};
  const seen = current._source.outputs ?? {};
  const wanted = new Set(outputs.map((o) => o.name));
  const created = new Map<string, { id: string; apiKey: string; replaces?: string }>();
  const rehashed = new Set<string>();
  for (const output of outputs) {
    const existing = seen[output.name];
    if (existing?.api_key && existing.api_key_id) {
      if (existing.permissions_hash !== output.hash) {
        await deps.store.credentials.updateRoles(existing.api_key_id, output.role);
        rehashed.add(output.name);
      }
      continue;
    }
    const key = await deps.store.credentials.create({
      name: `${agentId}:${output.name}`,
      metadata: { agent_id: agentId, managed: true, managed_by: 'fleet-server', output_name: output.name, type: 'output' },
      roleDescriptors: output.role,
    });
    created.set(output.name, { id: key.id, apiKey: `${key.id}:${key.secret}`, ...(existing?.api_key_id ? { replaces: existing.api_key_id } : {}) });
  }
  const stale = Object.entries(seen).some(([name, o]) => !wanted.has(name) && o.type === 'elasticsearch');
  if (!created.size && !rehashed.size && !stale) return keysOf(seen, outputs);

  const lost: string[] = [];
  const updated = await deps.store.agents.mutate(agentId, (doc) => {
    lost.length = 0;
    const now = new Date().toISOString();
    const next: Record<string, AgentOutput> = { ...(doc.outputs ?? {}) };
    const retire = [...retiring(doc)];
    for (const output of outputs) {
      const recorded = next[output.name];
      const mine = created.get(output.name);
      if (mine) {
        if (recorded?.api_key && recorded.api_key_id && recorded.api_key_id !== mine.replaces) {
          lost.push(mine.id); // another delivery recorded a key meanwhile: keep that one
          continue;
        }
        if (recorded?.api_key_id) retire.push({ id: recorded.api_key_id, retired_at: now, output: output.name });
        next[output.name] = { api_key: mine.apiKey, api_key_id: mine.id, permissions_hash: output.hash, type: 'elasticsearch' };
      } else if (rehashed.has(output.name) && recorded) {
        next[output.name] = { ...recorded, permissions_hash: output.hash };
      }
    }
    for (const [name, output] of Object.entries(doc.outputs ?? {})) {
      if (wanted.has(name) || output.type !== 'elasticsearch') continue;
      if (output.api_key_id) retire.push({ id: output.api_key_id, retired_at: now, output: name });
      delete next[name];
    }
    const first = outputs[0]?.name;
    for (const [name, output] of Object.entries(next)) {
      next[name] = { ...output, to_retire_api_key_ids: name === first ? dedupe(retire) : [] };
    }
    return { outputs: next };
  });
  if (lost.length) await deps.store.credentials.invalidate(lost);
  deps.logger.info({ 'fleet.agent.id': agentId, created: created.size - lost.length, rehashed: rehashed.size }, 'output API keys prepared');
  return keysOf(updated._source.outputs ?? {}, outputs);
}

function keysOf(recorded: Record<string, AgentOutput>, outputs: ElasticsearchOutput[]): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const o of outputs) {
    const key = recorded[o.name]?.api_key;
    if (key) keys[o.name] = key;
  }
  return keys;
}

function retiring(doc: AgentDoc) {
  return Object.values(doc.outputs ?? {}).flatMap((o) => o.to_retire_api_key_ids ?? []);
}

function dedupe<T extends { id: string }>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((i) => (seen.has(i.id) ? false : (seen.add(i.id), true)));
}
