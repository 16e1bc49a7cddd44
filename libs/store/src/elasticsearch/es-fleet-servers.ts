import type { Client } from '@elastic/elasticsearch';
import type { FleetServerDoc, FleetServerStore } from '../fleet-server-store';
import { deleteOldest, statusOf } from './es-client';
import { ES_INDICES } from './es-indices';

const is404 = (err: unknown): boolean => statusOf(err) === 404;

/**
 * `.fleet-servers` on Elasticsearch: the fleet module's system index where it is installed (the
 * fleet-server service account may write it), the backend's own index otherwise. One document per
 * server, written with a refresh (one write per server every few minutes), so a count sees it.
 */
export function createEsFleetServerStore(client: Client, guard: <T>(fn: () => Promise<T>) => Promise<T>): FleetServerStore {
  const index = ES_INDICES.fleetServers.alias;
  return {
    put: (id, doc) =>
      guard(async () => {
        await client.index({ index, id, document: doc, refresh: true });
      }),
    get: (id) =>
      guard(async () => {
        try {
          const res = await client.get<FleetServerDoc>({ index, id });
          return res.found && res._source ? { _id: id, _seq_no: res._seq_no ?? 0, _source: res._source } : undefined;
        } catch (err) {
          if (is404(err)) return undefined;
          throw err;
        }
      }),
    count: () =>
      guard(async () => {
        try {
          return (await client.count({ index })).count;
        } catch (err) {
          if (is404(err)) return 0;
          throw err;
        }
      }),
    deleteStale: (before, limit) => guard(() => deleteOldest(client, index, '@timestamp', before, limit)),
  };
}
