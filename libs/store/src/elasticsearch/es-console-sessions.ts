import type { Client } from '@elastic/elasticsearch';
import type { ConsoleSessionStore, EndedConsoleSession } from '../console-session-store';
import { deleteOldest, statusOf } from './es-client';
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
    deleteExpired: (before, limit) => guard(() => deleteOldest(client, index, 'expires_at', before, limit)),
  };
}
