import type { Client } from '@elastic/elasticsearch';
import type { ConsoleSessionStore, EndedConsoleSession } from '../console-session-store';
import { statusOf } from './es-client';
import { ES_INDICES } from './es-indices';

const is404 = (err: unknown): boolean => statusOf(err) === 404;
const is409 = (err: unknown): boolean => statusOf(err) === 409;

/**
 * Ended console sessions on Elasticsearch: one document per session, its `_id` the sid, so the
 * check on every call is a real-time GET (a sign-out written by one replica is seen by the next
 * request on any other). Created with op_type create: ending a session again keeps the first record.
 */
export function createEsConsoleSessionStore(client: Client, guard: <T>(fn: () => Promise<T>) => Promise<T>): ConsoleSessionStore {
  const index = ES_INDICES.consoleSessions.alias;
  return {
    end: (record: EndedConsoleSession) =>
      guard(async () => {
        try {
          await client.create({ index, id: record.sid, document: record, refresh: true });
        } catch (err) {
          if (!is409(err)) throw err;
        }
      }),
    isEnded: (sid) =>
      guard(async () => {
        try {
          return (await client.get({ index, id: sid, _source: false })).found;
        } catch (err) {
          if (is404(err)) return false;
          throw err;
        }
      }),
    // A search, then one bulk of deletes (no `_delete_by_query`, which needs the reindex module).
    deleteExpired: (before, limit) =>
      guard(async () => {
        const size = Math.max(0, Math.floor(limit));
        if (size === 0) return 0;
        const res = await client
          .search({ index, query: { range: { expires_at: { lt: before.toISOString() } } }, sort: [{ expires_at: { order: 'asc' } }], size, _source: false })
          .catch((err: unknown) => {
            if (is404(err)) return undefined;
            throw err;
          });
        const ids = (res?.hits.hits ?? []).flatMap((h) => (h._id ? [h._id] : []));
        if (!ids.length) return 0;
        const bulk = await client.bulk({ operations: ids.map((id) => ({ delete: { _index: index, _id: id } })), refresh: true });
        return bulk.items.filter((item) => item.delete?.result === 'deleted').length;
      }),
  };
}
