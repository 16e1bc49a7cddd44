import type { Client } from '@elastic/elasticsearch';
import { createHash } from 'node:crypto';
import type { FullAgentPolicy, JsonObject } from './documents';
import { createClient } from './elasticsearch/es-client';
import { SecurityApiCredentials } from './elasticsearch/es-credentials';
import { outputHealthDoc, type OutputHealthState, type OutputHealthStore } from './output-health';
import { referencedSecretIds, resolvePolicySecrets } from './policy-secrets';
import { MAX_SECRET_BATCH } from './secret-store';
import type { CredentialStore, FleetStore } from './store-port';

/** Kibana's output type for another cluster: keys are made there with the output's service token. */
export const REMOTE_ELASTICSEARCH = 'remote_elasticsearch';

/** What a per-output client is built from (the output's `hosts`, `service_token` and `ssl`). */
export interface RemoteOutputConfig {
  name: string;
  hosts: string[];
  serviceToken: string;
  ssl?: { certificateAuthorities?: string[]; verificationMode?: string };
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The hosts a remote output's client connects to (at most 32). */
const hostsOf = (output: JsonObject): string[] => strings(output.hosts).slice(0, 32);

/**
 * The client configuration of a `remote_elasticsearch` output whose secrets are resolved;
 * undefined for any other output, or one without hosts or a service token (nothing to connect with).
 */
export function remoteOutputConfig(name: string, output: JsonObject | undefined): RemoteOutputConfig | undefined {
  if (!output || output.type !== REMOTE_ELASTICSEARCH) return undefined;
  const hosts = hostsOf(output);
  const token = output.service_token;
  if (!hosts.length || typeof token !== 'string' || !token || token.startsWith('$co.elastic.secret{')) return undefined;
  const ssl = output.ssl && typeof output.ssl === 'object' && !Array.isArray(output.ssl) ? output.ssl : undefined;
  const cas = strings(ssl?.certificate_authorities);
  const mode = typeof ssl?.verification_mode === 'string' ? ssl.verification_mode : undefined;
  return {
    name,
    hosts,
    serviceToken: token,
    ...(cas.length || mode ? { ssl: { ...(cas.length ? { certificateAuthorities: cas } : {}), ...(mode ? { verificationMode: mode } : {}) } } : {}),
  };
}

/** Hex SHA-256 of a remote output's connection (hosts, token, TLS): the cache key of its client. */
export function remoteConfigHash(config: RemoteOutputConfig): string {
  return createHash('sha256').update(JSON.stringify([config.hosts, config.serviceToken, config.ssl ?? null])).digest('hex');
}

/**
 * Hex SHA-256 of where a remote output points (its hosts): recorded with each agent's remote key,
 * so that a key is made again when the output is pointed at another cluster. The token is not in
 * it (a rotated service token leaves the cluster's keys valid).
 */
export const remoteHostsHash = (config: RemoteOutputConfig): string => hashHosts(config.hosts);

const hashHosts = (hosts: string[]): string => createHash('sha256').update(JSON.stringify(hosts)).digest('hex');

interface CachedClient {
  client: Client;
  credentials: CredentialStore;
  lastUsed: number;
}

export interface RemoteOutputsOptions {
  /** Where health documents go (the local store's output health data stream). */
  health: OutputHealthStore;
  /** Per-output clients kept at most (least recently used are closed first). */
  maxClients?: number;
  /** A client unused this long is closed by `sweep`. */
  idleMs?: number;
  requestTimeoutMs?: number;
  now?: () => number;
}

/**
 * The remote Elasticsearch outputs as this process knows them: one client per output
 * configuration (cached by a hash of it, bounded, closed when unused), and the state last reported
 * for each output, so that a health document is written once per state change, not per agent.
 */
export class RemoteOutputs {
  private readonly clients = new Map<string, CachedClient>();
  private readonly states = new Map<string, { state: OutputHealthState; message: string }>();
  /** The outputs seen lately, by name: what the periodic ping visits. */
  private readonly known = new Map<string, { config: RemoteOutputConfig; seen: number }>();
  private readonly maxClients: number;
  private readonly idleMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: RemoteOutputsOptions) {
    this.maxClients = opts.maxClients ?? 64;
    this.idleMs = opts.idleMs ?? 15 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** API keys on the output's cluster, through its (cached) client. */
  credentials(config: RemoteOutputConfig): CredentialStore {
    return this.client(config).credentials;
  }

  /** Remembers an output for the periodic ping (bounded like the clients). */
  remember(config: RemoteOutputConfig): void {
    this.known.delete(config.name);
    this.known.set(config.name, { config, seen: this.now() });
    while (this.known.size > this.maxClients) this.known.delete(this.known.keys().next().value as string);
  }

  /**
   * Records an output's state: a health document is written when it differs from the last one
   * this process wrote for the output (the first report always writes).
   */
  async report(output: string, state: OutputHealthState, message: string): Promise<boolean> {
    const last = this.states.get(output);
    if (last && last.state === state && (state === 'HEALTHY' || last.message === message)) return false;
    await this.opts.health.write(outputHealthDoc(output, state, message));
    this.states.set(output, { state, message });
    return true;
  }

  /** The state last written for an output by this process. */
  stateOf(output: string): OutputHealthState | undefined {
    return this.states.get(output)?.state;
  }

  /**
   * Checks each remembered output (authenticates with its service token) and reports its health.
   * Returns the states found. Outputs not seen for `idleMs` are forgotten; idle clients closed.
   */
  async pingAll(): Promise<Record<string, OutputHealthState>> {
    const found: Record<string, OutputHealthState> = {};
    const cutoff = this.now() - this.idleMs;
    for (const [name, { config, seen }] of [...this.known]) {
      if (seen < cutoff) {
        this.known.delete(name);
        continue;
      }
      const { client } = this.client(config);
      try {
        await client.security.authenticate();
        await this.report(name, 'HEALTHY', '');
        found[name] = 'HEALTHY';
      } catch (err) {
        await this.report(name, 'DEGRADED', `remote Elasticsearch output unreachable: ${describeError(err)}`);
        found[name] = 'DEGRADED';
      }
    }
    await this.sweep();
    return found;
  }

  /** Closes the clients unused for `idleMs`. */
  async sweep(): Promise<number> {
    const cutoff = this.now() - this.idleMs;
    const idle = [...this.clients].filter(([, c]) => c.lastUsed < cutoff);
    for (const [key, c] of idle) {
      this.clients.delete(key);
      await c.client.close();
    }
    return idle.length;
  }

  /** Number of open per-output clients. */
  size(): number {
    return this.clients.size;
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    for (const c of all) await c.client.close();
  }

  private client(config: RemoteOutputConfig): CachedClient {
    const key = remoteConfigHash(config);
    const hit = this.clients.get(key);
    if (hit) {
      hit.lastUsed = this.now();
      this.clients.delete(key); // most recently used last
      this.clients.set(key, hit);
      return hit;
    }
    while (this.clients.size >= this.maxClients) {
      const [oldKey, old] = this.clients.entries().next().value as [string, CachedClient];
      this.clients.delete(oldKey);
      void old.client.close().catch(() => undefined);
    }
    const client = createClient({
      hosts: config.hosts,
      serviceToken: config.serviceToken,
      requestTimeoutMs: this.opts.requestTimeoutMs ?? 10_000,
      maxRetries: 1,
      ...tlsOf(config),
    });
    const cached = { client, credentials: new SecurityApiCredentials(client), lastUsed: this.now() };
    this.clients.set(key, cached);
    return cached;
  }
}

/** A failure described without anything secret: the error's class, HTTP status and ES error type. */
export function describeError(err: unknown): string {
  const e = err as { name?: unknown; meta?: { statusCode?: unknown; body?: { error?: { type?: unknown } } }; cause?: unknown };
  const parts: string[] = [typeof e?.name === 'string' ? e.name : 'Error'];
  const status = e?.meta?.statusCode;
  if (typeof status === 'number') parts.push(`status ${status}`);
  const type = e?.meta?.body?.error?.type;
  if (typeof type === 'string') parts.push(type.slice(0, 100));
  if (e?.cause && e.cause !== err) parts.push(`(${describeError(e.cause)})`);
  return parts.join(' ');
}

/** Revisions of a policy read at most, by default, to find the cluster of a key being revoked. */
export const DEFAULT_REVOCATION_SEARCH_REVISIONS = 10_000;

/** The most that setting may be: Elasticsearch's default result window (pages are read by offset). */
export const MAX_REVOCATION_SEARCH_REVISIONS = 10_000;

/** Revisions read per page. */
const REVISION_PAGE = 100;

/**
 * A key on a remote output's cluster, and what finds that cluster's configuration again: ids and
 * hashes only, never a token. Entries written before the policy and hash were recorded have
 * neither: they are found by output name in the agent's policy.
 */
export interface RemoteKeyRef {
  id: string;
  output: string;
  /** The agent policy whose revisions have the output on the key's cluster. */
  policyId?: string;
  /** `remoteHostsHash` of the cluster the key was made on. */
  hostsHash?: string;
}

/** What to find in a policy's revisions: an output by name, on the cluster of `hostsHash` when given. */
interface Wanted {
  output: string;
  hostsHash?: string;
}

const wantedKey = (w: Wanted): string => JSON.stringify([w.output, w.hostsHash ?? null]);

/**
 * The configurations of a policy's remote outputs, their secrets resolved, by `wantedKey`: each
 * from the newest revision that has an output of that name (on the cluster of `hostsHash`, when
 * given). Keys are retired after their output left the policy or was pointed elsewhere, so the
 * latest revision may not have it: revisions are read newest first, a page at a time, until all
 * are found or `maxRevisions` were read. Absent: no revision read has it.
 */
async function findRemoteOutputConfigs(store: FleetStore, policyId: string, wanted: Wanted[], maxRevisions: number): Promise<Map<string, RemoteOutputConfig | undefined>> {
  const pending = new Map(wanted.map((w) => [wantedKey(w), w]));
  const found = new Map<string, RemoteOutputConfig | undefined>();
  const limit = Math.min(Math.max(1, maxRevisions), MAX_REVOCATION_SEARCH_REVISIONS);
  const perPage = Math.min(REVISION_PAGE, limit);
  // A revision written meanwhile shifts the pages: one may be read twice, none is skipped.
  for (let page = 1, read = 0; pending.size && read < limit; page++) {
    const { items } = await store.policies.list(policyId, { page, perPage });
    for (const hit of items.slice(0, limit - read)) {
      for (const [key, w] of pending) {
        const raw = hit._source.data.outputs?.[w.output];
        if (!raw || raw.type !== REMOTE_ELASTICSEARCH) continue;
        if (w.hostsHash !== undefined && hashHosts(hostsOf(raw)) !== w.hostsHash) continue;
        // The newest matching revision has the cluster's current token (an older one may be rotated).
        found.set(key, await resolvedConfig(store, hit._source.data, w.output, raw));
        pending.delete(key);
      }
    }
    read += items.length;
    if (items.length < perPage) break;
  }
  return found;
}

async function resolvedConfig(store: FleetStore, data: FullAgentPolicy, output: string, raw: JsonObject): Promise<RemoteOutputConfig | undefined> {
  const only: FullAgentPolicy = { ...data, outputs: { [output]: raw }, inputs: [] };
  const ids = referencedSecretIds(only).slice(0, MAX_SECRET_BATCH);
  const values = ids.length ? await store.secrets.get(ids) : new Map<string, string>();
  return remoteOutputConfig(output, resolvePolicySecrets(only, values).policy.outputs?.[output]);
}

export interface RemoteRevocationOptions {
  /** The agent's policy: where keys without a recorded policy are looked up, and the second place for the others. */
  agentPolicyId?: string | undefined;
  /** Revisions of a policy read at most, newest first, to find a key's cluster. */
  maxRevisions?: number | undefined;
  requestTimeoutMs?: number | undefined;
}

/**
 * Revokes keys on remote outputs' clusters (unenroll, retirement). Each key's cluster is found in
 * the policy the key was made under (else the agent's policy): the newest revision with the
 * output on the hosts the key was made on (a key recorded without them: the newest with the
 * output). One client per configuration, made for the call and closed. Idempotent (an invalidated
 * key is invalidated again without error). Throws when a cluster cannot be reached, so that the
 * job is retried; keys whose cluster no revision read has are returned in `unresolved` (nothing
 * can reach them).
 */
export async function revokeRemoteKeys(store: FleetStore, keys: RemoteKeyRef[], opts: RemoteRevocationOptions = {}): Promise<{ revoked: number; unresolved: string[] }> {
  const maxRevisions = opts.maxRevisions ?? DEFAULT_REVOCATION_SEARCH_REVISIONS;
  const configs = new Map<RemoteKeyRef, RemoteOutputConfig>();
  // First where each key was made; then, for the keys not found there, in the agent's policy.
  const places = [(k: RemoteKeyRef) => k.policyId ?? opts.agentPolicyId, (k: RemoteKeyRef) => (k.policyId && k.policyId !== opts.agentPolicyId ? opts.agentPolicyId : undefined)];
  for (const placeOf of places) {
    const byPolicy = new Map<string, RemoteKeyRef[]>();
    for (const key of keys) {
      const policyId = configs.has(key) ? undefined : placeOf(key);
      if (!policyId) continue;
      const refs = byPolicy.get(policyId) ?? [];
      refs.push(key);
      byPolicy.set(policyId, refs);
    }
    for (const [policyId, refs] of byPolicy) {
      const found = await findRemoteOutputConfigs(store, policyId, refs.map(wantedOf), maxRevisions);
      for (const ref of refs) {
        const config = found.get(wantedKey(wantedOf(ref)));
        if (config) configs.set(ref, config);
      }
    }
  }
  const byConfig = new Map<string, { config: RemoteOutputConfig; ids: string[] }>();
  for (const [ref, config] of configs) {
    const hash = remoteConfigHash(config);
    const entry = byConfig.get(hash) ?? { config, ids: [] };
    entry.ids.push(ref.id);
    byConfig.set(hash, entry);
  }
  let revoked = 0;
  for (const { config, ids } of byConfig.values()) {
    const client = createClient({ hosts: config.hosts, serviceToken: config.serviceToken, requestTimeoutMs: opts.requestTimeoutMs ?? 10_000, maxRetries: 1, ...tlsOf(config) });
    try {
      revoked += (await new SecurityApiCredentials(client).invalidate([...new Set(ids)])).length;
    } finally {
      await client.close();
    }
  }
  return { revoked, unresolved: keys.filter((k) => !configs.has(k)).map((k) => k.id) };
}

const wantedOf = (ref: RemoteKeyRef): Wanted => ({ output: ref.output, ...(ref.hostsHash ? { hostsHash: ref.hostsHash } : {}) });

function tlsOf(config: RemoteOutputConfig): { tls?: { ca?: string[]; rejectUnauthorized?: boolean } } {
  if (!config.ssl) return {};
  return {
    tls: {
      ...(config.ssl.certificateAuthorities ? { ca: config.ssl.certificateAuthorities } : {}),
      ...(config.ssl.verificationMode === 'none' ? { rejectUnauthorized: false } : {}),
    },
  };
}
