import type { Client } from '@elastic/elasticsearch';
import { checkSecretValue, secretBatch, type SecretStore } from '../secret-store';
import { StoreOverloadedError, StorePermissionError, StoreUnavailableError } from '../errors';
import { errorType, isTransient, statusOf } from './es-client';
import { INDEX_SETTINGS, SECRETS_INDEX } from './es-indices';

/** Requests to `/_fleet/secret/<id>` in flight at once per batch (the reference reads one at a time, bounded). */
const API_CONCURRENCY = 8;

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pooled<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Says which privilege a refused secrets write lacks. */
function refused(viaApi: boolean): Error {
  return new StorePermissionError(
    viaApi
      ? 'these Elasticsearch credentials may not write Fleet secrets: POST/DELETE /_fleet/secret needs the write_fleet_secrets cluster privilege (the elastic/fleet-server service account has only read_fleet_secrets)'
      : `these Elasticsearch credentials may not write ${SECRETS_INDEX}: without the fleet module, secrets are written to the index itself, which needs write (and create_index) on it`,
  );
}

/**
 * A failed secrets write, as an error that holds nothing of the request: the client's own errors
 * carry the request (and so the value) in their `meta`, and would show it to any log of them.
 */
function writeFailure(err: unknown, viaApi: boolean): Error {
  const status = statusOf(err);
  if (status === 403) return refused(viaApi);
  if (status === 429) return new StoreOverloadedError('elasticsearch is overloaded (429) while writing a secret');
  if (isTransient(err)) return new StoreUnavailableError(`elasticsearch unavailable while writing a secret${status ? ` (${status})` : ''}`);
  if (err instanceof Error && !('meta' in err)) return err;
  return new Error(`writing a secret failed: ${status ?? '?'} ${errorType(err) ?? ''}`.trim());
}

/**
 * Secrets on Elasticsearch, where Kibana keeps them. With the fleet module (`viaApi()`), through
 * its API, as elastic/fleet-server does: `GET /_fleet/secret/<id>` (→ `{id, value}`, 404 when
 * missing), `POST /_fleet/secret {value}` (→ `{id}`), `DELETE /_fleet/secret/<id>`. Without it
 * (the integration-test distribution, or a cluster without the module) the fallback reads and
 * writes `.fleet-secrets` itself: `{value}` documents, read with a realtime `_mget` (the
 * elastic/fleet-server service account may read that index; it may not write it).
 */
export function createEsSecretStore(client: Client, guard: <T>(fn: () => Promise<T>) => Promise<T>, viaApi: () => boolean): SecretStore {
  const apiPath = (id: string): string => `/_fleet/secret/${encodeURIComponent(id)}`;

  const getViaApi = async (ids: string[]): Promise<Map<string, string>> => {
    const values = new Map<string, string>();
    await pooled(ids, API_CONCURRENCY, async (id) => {
      try {
        const body = await client.transport.request<{ value?: unknown }>({ method: 'GET', path: apiPath(id) });
        if (typeof body?.value === 'string') values.set(id, body.value);
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    });
    return values;
  };

  const getFromIndex = async (ids: string[]): Promise<Map<string, string>> => {
    const values = new Map<string, string>();
    try {
      const res = await client.mget<{ value?: unknown }>({ index: SECRETS_INDEX, ids, realtime: true });
      for (const doc of res.docs) {
        if (!('found' in doc) || !doc.found) continue;
        if (typeof doc._source?.value === 'string') values.set(doc._id, doc._source.value);
      }
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    return values;
  };

  const ensureIndex = async (): Promise<void> => {
    const exists = await client.indices.exists({ index: SECRETS_INDEX }).catch(() => false);
    if (exists) return;
    try {
      await client.indices.create({
        index: SECRETS_INDEX,
        settings: { index: { ...INDEX_SETTINGS } },
        mappings: { dynamic: false, properties: { value: { type: 'keyword', index: false } } },
      });
    } catch (err) {
      const type = (err as { body?: { error?: { type?: string } } }).body?.error?.type;
      if (type !== 'resource_already_exists_exception') throw err;
    }
  };

  return {
    get: (ids) =>
      guard(async () => {
        const wanted = secretBatch(ids);
        if (!wanted.length) return new Map<string, string>();
        return viaApi() ? getViaApi(wanted) : getFromIndex(wanted);
      }),
    create: (value) =>
      guard(async () => {
        checkSecretValue(value);
        const api = viaApi();
        try {
          if (api) {
            const body = await client.transport.request<{ id?: unknown }>({ method: 'POST', path: '/_fleet/secret', body: { value } });
            if (typeof body?.id !== 'string') throw new Error('POST /_fleet/secret answered without an id');
            return body.id;
          }
          await ensureIndex();
          const res = await client.index({ index: SECRETS_INDEX, document: { value }, refresh: 'wait_for' });
          return res._id;
        } catch (err) {
          throw writeFailure(err, api);
        }
      }),
    delete: (ids) =>
      guard(async () => {
        const wanted = secretBatch(ids);
        if (!wanted.length) return 0;
        const api = viaApi();
        try {
          if (api) {
            let deleted = 0;
            await pooled(wanted, API_CONCURRENCY, async (id) => {
              try {
                await client.transport.request({ method: 'DELETE', path: apiPath(id) });
                deleted += 1;
              } catch (err) {
                if (statusOf(err) !== 404) throw err;
              }
            });
            return deleted;
          }
          const res = await client.bulk({ operations: wanted.map((id) => ({ delete: { _index: SECRETS_INDEX, _id: id } })), refresh: true });
          if (res.items.some((item) => item.delete?.status === 403)) throw refused(false);
          return res.items.filter((item) => item.delete?.result === 'deleted').length;
        } catch (err) {
          throw writeFailure(err, api);
        }
      }),
  };
}
