import { Client, errors } from '@elastic/elasticsearch';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { StoreOverloadedError, StoreUnavailableError } from '../errors';

export interface ElasticsearchConnection {
  hosts: string[];
  /** Service token of the `elastic/fleet-server` service account (sent as `Authorization: Bearer`). */
  serviceToken?: string;
  username?: string;
  password?: string;
  requestTimeoutMs?: number;
  maxRetries?: number;
  /** TLS towards https hosts (CAs, client certificate, verification), built by the caller. */
  tls?: TlsOptions;
}

export function createClient(conn: ElasticsearchConnection): Client {
  const auth = conn.serviceToken
    ? { bearer: conn.serviceToken }
    : conn.username
      ? { username: conn.username, password: conn.password ?? '' }
      : undefined;
  return new Client({
    nodes: conn.hosts,
    ...(auth ? { auth } : {}),
    ...(conn.tls ? { tls: conn.tls } : {}),
    requestTimeout: conn.requestTimeoutMs ?? 30_000,
    maxRetries: conn.maxRetries ?? 2,
    compression: false,
    headers: { 'x-elastic-product-origin': 'fleet' },
  });
}

export const statusOf = (err: unknown): number | undefined =>
  err instanceof errors.ResponseError ? err.statusCode : undefined;

export const errorType = (err: unknown): string | undefined => {
  if (!(err instanceof errors.ResponseError)) return undefined;
  const body = err.body as { error?: { type?: string } } | undefined;
  return body?.error?.type;
};

/** True for failures worth retrying: the node is unreachable, overloaded or failing (429, 5xx). */
export function isTransient(err: unknown): boolean {
  if (
    err instanceof errors.ConnectionError ||
    err instanceof errors.TimeoutError ||
    err instanceof errors.NoLivingConnectionsError
  ) {
    return true;
  }
  const status = statusOf(err);
  return status === 429 || (status !== undefined && status >= 500);
}

/** Maps client failures to the store's error kinds (others pass through unchanged). */
export function translate(err: unknown): Error {
  if (statusOf(err) === 429) return new StoreOverloadedError('elasticsearch is overloaded (429)', { cause: err });
  if (isTransient(err)) return new StoreUnavailableError(`elasticsearch unavailable: ${describe(err)}`, { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}

function describe(err: unknown): string {
  if (err instanceof errors.ResponseError) return `${err.statusCode ?? '?'} ${errorType(err) ?? ''}`.trim();
  // A connection error's message says why (refused, or the certificate a TLS handshake rejected).
  if (err instanceof errors.ConnectionError && err.message) return `${err.name}: ${err.message}`;
  return err instanceof Error ? err.name : String(err);
}

/** Runs an Elasticsearch call, translating its failure. */
export async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translate(err);
  }
}

/**
 * Deletes the documents of `index` whose date `field` is before `before`, oldest first, at most
 * `limit`; returns how many were deleted. A search, then one bulk of deletes: `_delete_by_query`
 * needs the reindex module, which not every distribution has. A missing index holds none.
 */
export async function deleteOldest(client: Client, index: string, field: string, before: Date, limit: number): Promise<number> {
  const size = Math.max(0, Math.floor(limit));
  if (size === 0) return 0;
  const res = await client
    .search({ index, query: { range: { [field]: { lt: before.toISOString() } } }, sort: [{ [field]: { order: 'asc' } }], size, _source: false })
    .catch((err: unknown) => {
      if (statusOf(err) === 404) return undefined;
      throw err;
    });
  const ids = (res?.hits.hits ?? []).flatMap((h) => (h._id ? [h._id] : []));
  if (!ids.length) return 0;
  const bulk = await client.bulk({ operations: ids.map((id) => ({ delete: { _index: index, _id: id } })), refresh: true });
  return bulk.items.filter((item) => item.delete?.result === 'deleted').length;
}
