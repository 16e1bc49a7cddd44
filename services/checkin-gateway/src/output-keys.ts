import type { Logger } from '@fleet/service-kit';
import {
  describeError,
  REMOTE_ELASTICSEARCH,
  remoteHostsHash,
  remoteOutputConfig,
  type AgentDoc,
  type AgentOutput,
  type CredentialStore,
  type FleetStore,
  type FullAgentPolicy,
  type JsonObject,
  type JsonValue,
  type OutputKeyTarget,
  type OutputApiKeyToRetire,
  type RemoteOutputConfig,
  type RemoteOutputs,
} from '@fleet/store';
import { createHash } from 'node:crypto';

/** An `elasticsearch` output of a policy revision, with the role its agents' keys get. */
export interface ElasticsearchOutput {
  name: string;
  /** `output_permissions[<output>]`: role name → role descriptor, used as the key's role descriptors. */
  role: JsonObject;
  /** elastic/fleet-server's permissions hash of `role`, so keys rotate only when permissions change. */
  hash: string;
  /** The output's `hosts`: whether its keys can be made on the output key cluster (`OutputKeyTarget.covers`). */
  hosts: string[];
  /** Set for a `remote_elasticsearch` output: its keys are made on that cluster. */
  remote?: RemoteOutputConfig;
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

/**
 * The `elasticsearch` and `remote_elasticsearch` outputs of a policy (its secrets resolved) that
 * carry output permissions. A remote output without hosts or a usable service token gets no key.
 */
export function elasticsearchOutputs(policy: FullAgentPolicy): ElasticsearchOutput[] {
  const out: ElasticsearchOutput[] = [];
  for (const [name, output] of Object.entries(policy.outputs ?? {})) {
    if (output.type !== 'elasticsearch' && output.type !== REMOTE_ELASTICSEARCH) continue;
    const role = policy.output_permissions?.[name];
    if (!role) continue;
    const hosts = Array.isArray(output.hosts) ? output.hosts.filter((h): h is string => typeof h === 'string') : [];
    if (output.type === 'elasticsearch') {
      out.push({ name, role, hash: permissionsHash(role), hosts });
      continue;
    }
    const remote = remoteOutputConfig(name, output);
    if (remote) out.push({ name, role, hash: permissionsHash(role), hosts, remote });
  }
  return out;
}

/**
 * A remote output as its agents see it (as the reference sends it): an `elasticsearch` output
 * without the `service_token`, which is for this server only. Other outputs are unchanged.
 */
export function agentFacingOutput(output: JsonObject): JsonObject {
  if (output.type !== REMOTE_ELASTICSEARCH) return output;
  const { service_token: _token, ...rest } = output;
  return { ...rest, type: 'elasticsearch' };
}

/** `secret_paths` without the remote outputs' `service_token` (the agent does not receive it). */
export function agentFacingSecretPaths(paths: string[], outputs: Record<string, JsonObject>): string[] {
  const hidden = new Set(
    Object.entries(outputs)
      .filter(([, o]) => o.type === REMOTE_ELASTICSEARCH)
      .map(([name]) => `outputs.${name}.service_token`),
  );
  return paths.filter((p) => !hidden.has(p));
}

export interface OutputKeyDeps {
  store: FleetStore;
  logger: Logger;
  /** Per-output clients of remote outputs and their health; without it remote outputs get no key. */
  remote?: RemoteOutputs;
  /** Where `elasticsearch` outputs' keys are made (`outputKeyTarget`, read once per delivery). */
  target: OutputKeyTarget | undefined;
}

/** Where an output's keys are made: `deps.target`, or the remote output's cluster. */
function credentialsOf(deps: OutputKeyDeps, output: ElasticsearchOutput): CredentialStore | undefined {
  if (!output.remote) return deps.target?.credentials;
  return deps.remote?.credentials(output.remote);
}

/**
 * Makes sure the agent holds an API key for each output, with the output's current permissions:
 * a new key when it has none, a role update when the permissions hash changed. Keys of outputs
 * the policy no longer has are marked to be retired once the agent acks. New keys are recorded by
 * one guarded update: if a concurrent delivery recorded a key first, that one is kept and ours is
 * revoked, so no key is ever left unrecorded. A remote key records the hosts hash and the policy
 * (`policyId`, the one delivered) whose revisions have its cluster, so that it is revoked there
 * whatever the output and the agent's policy become. Returns `id:key` per output.
 */
export async function ensureOutputKeys(deps: OutputKeyDeps, agentId: string, policyId: string, outputs: ElasticsearchOutput[]): Promise<Record<string, string>> {
  const current = await deps.store.agents.get(agentId);
  if (!current) return {};
  const seen = current._source.outputs ?? {};
  const wanted = new Set(outputs.map((o) => o.name));
  const created = new Map<string, { id: string; apiKey: string; replaces?: string }>();
  const rehashed = new Set<string>();
  const failed = new Set<string>();
  // Remote keys kept under another policy than the one they were recorded with (or none, before it was recorded).
  const repointed = new Set(outputs.filter((o) => o.remote && keptRemoteKey(seen[o.name], o) && seen[o.name]?.remote_policy_id !== policyId).map((o) => o.name));
  for (const output of outputs) {
    if (output.remote) deps.remote?.remember(output.remote);
    const credentials = credentialsOf(deps, output);
    if (!credentials) {
      failed.add(output.name);
      continue;
    }
    // Keys made on another cluster than the store's: its outage must not stop deliveries.
    const elsewhere = output.remote !== undefined || deps.target?.where === 'output-cluster';
    try {
      const called = await prepareOutputKey(credentials, agentId, output, seen[output.name], created, rehashed);
      // Only a call that reached the output's cluster says it is healthy.
      if (elsewhere && called) await reportHealth(deps, output.name, 'HEALTHY', '');
    } catch (err) {
      if (!elsewhere) throw err;
      // As the reference: the output is reported degraded and the policy still goes out, without a
      // key of the agent's own (with the credentials written in the output, if any).
      failed.add(output.name);
      const reason = describeError(err);
      const where = output.remote ? 'the remote cluster' : 'the output key cluster';
      deps.logger.warn({ 'fleet.agent.id': agentId, output: output.name, err: reason }, `output API key not prepared on ${where}`);
      await reportHealth(deps, output.name, 'DEGRADED', `cannot prepare the agent's API key on ${where}: ${reason}`);
    }
  }
  // An output whose key could not be prepared goes out without one (as the reference).
  const delivered = outputs.filter((o) => !failed.has(o.name));
  const stale = Object.entries(seen).some(([name, o]) => !wanted.has(name) && isKeyed(o) && o.api_key_id);
  if (!created.size && !rehashed.size && !repointed.size && !stale) return keysOf(seen, delivered);

  const lost: { output: ElasticsearchOutput; id: string }[] = [];
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
          lost.push({ output, id: mine.id }); // another delivery recorded a key meanwhile: keep that one
          continue;
        }
        if (recorded?.api_key_id) retire.push({ id: recorded.api_key_id, retired_at: now, output: output.name, ...retiredRemote(recorded) });
        next[output.name] = {
          api_key: mine.apiKey,
          api_key_id: mine.id,
          permissions_hash: output.hash,
          type: output.remote ? REMOTE_ELASTICSEARCH : 'elasticsearch',
          ...(output.remote ? { remote_hosts_hash: remoteHostsHash(output.remote), remote_policy_id: policyId } : {}),
        };
      } else if (recorded && (rehashed.has(output.name) || repointed.has(output.name))) {
        next[output.name] = {
          ...recorded,
          ...(rehashed.has(output.name) ? { permissions_hash: output.hash } : {}),
          // The key's cluster is this policy's output now: its revocation looks here.
          ...(repointed.has(output.name) && keptRemoteKey(recorded, output) ? { remote_policy_id: policyId } : {}),
        };
      }
    }
    let removed: string | undefined;
    for (const [name, output] of Object.entries(doc.outputs ?? {})) {
      if (wanted.has(name) || !isKeyed(output)) continue;
      if (output.api_key_id) retire.push({ id: output.api_key_id, retired_at: now, output: name, ...retiredRemote(output) });
      delete next[name];
      removed ??= name;
    }
    // The retiring keys are listed under one recorded output (an output without a key has no
    // entry); when none is left, under a keyless entry of a removed one, so they are not lost.
    let first = outputs.map((o) => o.name).find((name) => next[name]) ?? Object.keys(next)[0];
    if (!first && removed && retire.length) {
      next[removed] = { type: doc.outputs?.[removed]?.type ?? 'elasticsearch' };
      first = removed;
    }
    for (const [name, output] of Object.entries(next)) {
      next[name] = { ...output, to_retire_api_key_ids: name === first ? dedupe(retire) : [] };
    }
    return { outputs: next };
  });
  for (const { output, id } of lost) await credentialsOf(deps, output)?.invalidate([id]);
  deps.logger.info({ 'fleet.agent.id': agentId, created: created.size - lost.length, rehashed: rehashed.size }, 'output API keys prepared');
  return keysOf(updated._source.outputs ?? {}, delivered);
}

/**
 * A new key for an output the agent has none for (or whose remote hosts changed); a role update
 * when the permissions changed. Returns whether the output's cluster was called.
 */
async function prepareOutputKey(
  credentials: CredentialStore,
  agentId: string,
  output: ElasticsearchOutput,
  existing: AgentOutput | undefined,
  created: Map<string, { id: string; apiKey: string; replaces?: string }>,
  rehashed: Set<string>,
): Promise<boolean> {
  if (existing?.api_key && existing.api_key_id && (!output.remote || keptRemoteKey(existing, output))) {
    if (existing.permissions_hash !== output.hash) {
      await credentials.updateRoles(existing.api_key_id, output.role);
      rehashed.add(output.name);
      return true;
    }
    return false;
  }
  const key = await credentials.create({
    name: `${agentId}:${output.name}`,
    metadata: { agent_id: agentId, managed: true, managed_by: 'fleet-server', output_name: output.name, type: 'output' },
    roleDescriptors: output.role,
  });
  created.set(output.name, { id: key.id, apiKey: `${key.id}:${key.secret}`, ...(existing?.api_key_id ? { replaces: existing.api_key_id } : {}) });
  return true;
}

/** Writes an output's health; a failed write is logged and does not fail the agent's delivery. */
async function reportHealth(deps: OutputKeyDeps, output: string, state: 'HEALTHY' | 'DEGRADED', message: string): Promise<void> {
  try {
    await deps.remote?.report(output, state, message);
  } catch (err) {
    deps.logger.warn({ output, state, err: describeError(err) }, 'output health document not written');
  }
}

/** Outputs whose per-agent keys this server makes (and so retires). */
const isKeyed = (o: AgentOutput): boolean => o.type === 'elasticsearch' || o.type === REMOTE_ELASTICSEARCH;

/** A remote output's recorded key that stays: it was made on the cluster the output points at. */
const keptRemoteKey = (recorded: AgentOutput | undefined, output: ElasticsearchOutput): boolean =>
  !!output.remote && !!recorded?.api_key && !!recorded.api_key_id && recorded.remote_hosts_hash === remoteHostsHash(output.remote);

/**
 * Marks a retiring key of a remote output, so that it is revoked on the cluster it was made on:
 * the hosts hash and the policy the entry recorded (this server's own fields).
 */
function retiredRemote(o: AgentOutput): Pick<OutputApiKeyToRetire, 'output_type' | 'remote_hosts_hash' | 'remote_policy_id'> {
  if (o.type !== REMOTE_ELASTICSEARCH) return {};
  return {
    output_type: REMOTE_ELASTICSEARCH,
    ...(o.remote_hosts_hash ? { remote_hosts_hash: o.remote_hosts_hash } : {}),
    ...(o.remote_policy_id ? { remote_policy_id: o.remote_policy_id } : {}),
  };
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
