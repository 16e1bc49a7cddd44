import type { Client } from '@elastic/elasticsearch';
import type { ApiKeyRecord, JsonObject } from '../documents';
import { apiKeyInfo, issueBuiltinApiKey, verifyApiKeySecret } from '../secrets';
import type { ApiKeyInfo, CreateApiKeyRequest, CredentialStore, IssuedApiKey } from '../store-port';
import { call, statusOf } from './es-client';
import { ES_INDICES } from './es-indices';

const SEARCHABLE_TRIES = 21;
const isNotFound = (err: unknown): boolean => statusOf((err as { cause?: unknown }).cause ?? err) === 404;

/**
 * API keys are created without a refresh (as the reference does), so for a moment after creation the
 * search-based key APIs do not find them. Runs `attempt` until it yields a value, waiting 250 ms
 * between tries while the key is not found (an `undefined` result or a 404), `tries` times at most;
 * then resolves undefined (or, with `rethrowNotFound`, throws the last 404).
 */
async function whenSearchable<T>(tries: number, attempt: () => Promise<T | undefined>, opts: { rethrowNotFound?: boolean } = {}): Promise<T | undefined> {
  let lastNotFound: Error | undefined;
  for (let i = 0; i < tries; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 250));
    try {
      const value = await attempt();
      if (value !== undefined) return value;
      lastNotFound = undefined;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      lastNotFound = err instanceof Error ? err : new Error(String(err));
    }
  }
  if (opts.rethrowNotFound && lastNotFound) throw lastNotFound;
  return undefined;
}

/**
 * Agent and enrollment keys as real Elasticsearch API keys (`POST /_security/api_key`), verified with
 * `GET /_security/_authenticate` and revoked with `DELETE /_security/api_key` (owner keys, as the
 * `elastic/fleet-server` service account may only manage its own).
 */
export class SecurityApiCredentials implements CredentialStore {
  readonly kind = 'elasticsearch' as const;

  constructor(private readonly client: Client) {}

  async create(request: CreateApiKeyRequest): Promise<IssuedApiKey> {
    const res = await call(() =>
      this.client.security.createApiKey({
        name: request.name,
        metadata: request.metadata,
        role_descriptors: (request.roleDescriptors ?? {}) as never,
        // Not refreshed (as the reference): authentication reads keys in real time; invalidation
        // below waits for a new key to become visible instead.
        refresh: false,
      }),
    );
    return {
      id: res.id,
      name: res.name,
      metadata: request.metadata,
      invalidated: false,
      secret: res.api_key,
      token: res.encoded ?? Buffer.from(`${res.id}:${res.api_key}`).toString('base64'),
    };
  }

  async verify(id: string, secret: string): Promise<ApiKeyInfo | undefined> {
    const token = Buffer.from(`${id}:${secret}`, 'utf8').toString('base64');
    try {
      const res = await this.client.security.authenticate({}, { headers: { authorization: `ApiKey ${token}` } });
      const key = res.api_key;
      if (!key || key.id !== id) return undefined;
      return { id: key.id, name: key.name ?? '', metadata: {}, invalidated: false };
    } catch (err) {
      if (statusOf(err) === 401) return undefined;
      throw err;
    }
  }

  /** Key information; a key created moments ago is waited for (about 2 s at most) until it is searchable. */
  async get(id: string): Promise<ApiKeyInfo | undefined> {
    return whenSearchable(9, async () => {
      const key = (await call(() => this.client.security.getApiKey({ id, owner: true }))).api_keys[0];
      return key ? { id: key.id, name: key.name ?? '', metadata: key.metadata ?? {}, invalidated: key.invalidated === true } : undefined;
    });
  }

  /** Replaces a key's roles; a key created moments ago is waited for (bounded) until it is searchable. */
  async updateRoles(id: string, roleDescriptors: JsonObject): Promise<void> {
    await whenSearchable(
      SEARCHABLE_TRIES,
      async () => {
        await call(() => this.client.security.updateApiKey({ id, role_descriptors: roleDescriptors as never }));
        return true;
      },
      { rethrowNotFound: true },
    );
  }

  async invalidate(ids: string[]): Promise<string[]> {
    const invalidated: string[] = [];
    // One call per key: an unknown id must not fail the others; a key created moments ago is waited for.
    for (const id of ids) {
      const res = await whenSearchable(SEARCHABLE_TRIES, async () => {
        const r = await call(() => this.client.security.invalidateApiKey({ ids: [id], owner: true }));
        return r.invalidated_api_keys.length || r.previously_invalidated_api_keys.length ? r : undefined;
      });
      if (res) invalidated.push(...res.invalidated_api_keys);
    }
    return invalidated;
  }
}

interface StoredKey {
  id: string;
  invalidated: boolean;
  doc: ApiKeyRecord;
}

/** Hashed API keys in an index of their own, for clusters without security. */
export class BuiltinEsCredentials implements CredentialStore {
  readonly kind = 'builtin' as const;
  private readonly index = ES_INDICES.builtinApiKeys.alias;

  constructor(private readonly client: Client) {}

  private async read(id: string): Promise<{ rec: ApiKeyRecord; seqNo: number; primaryTerm: number } | undefined> {
    try {
      const res = await this.client.get<StoredKey>({ index: this.index, id });
      if (!res.found || !res._source) return undefined;
      return { rec: res._source.doc, seqNo: res._seq_no ?? 0, primaryTerm: res._primary_term ?? 1 };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async create(request: CreateApiKeyRequest): Promise<IssuedApiKey> {
    const { record: rec, ...key } = issueBuiltinApiKey(request.name, request.metadata);
    await call(() => this.client.create({ index: this.index, id: rec.id, document: { id: rec.id, invalidated: false, doc: rec }, refresh: false }));
    return { ...apiKeyInfo(rec), secret: key.secret, token: key.token };
  }

  async verify(id: string, secret: string): Promise<ApiKeyInfo | undefined> {
    const found = await call(() => this.read(id));
    return found && verifyApiKeySecret(secret, found.rec.hash) ? apiKeyInfo(found.rec) : undefined;
  }

  async get(id: string): Promise<ApiKeyInfo | undefined> {
    const found = await call(() => this.read(id));
    return found ? apiKeyInfo(found.rec) : undefined;
  }

  updateRoles(): Promise<void> {
    return Promise.resolve();
  }

  async invalidate(ids: string[]): Promise<string[]> {
    const changed: string[] = [];
    for (const id of ids) {
      for (let attempt = 0; attempt < 5; attempt++) {
        const found = await call(() => this.read(id));
        if (!found || found.rec.invalidated) break;
        const rec = { ...found.rec, invalidated: true, invalidated_at: new Date().toISOString() };
        try {
          await this.client.index({
            index: this.index,
            id,
            document: { id, invalidated: true, doc: rec },
            if_seq_no: found.seqNo,
            if_primary_term: found.primaryTerm,
            refresh: 'wait_for',
          });
          changed.push(id);
          break;
        } catch (err) {
          if (statusOf(err) !== 409) throw err;
        }
      }
    }
    return changed;
  }
}
