import type { Client } from '@elastic/elasticsearch';
import type { FleetServerDoc, FleetServerStore } from '../fleet-server-store';
import { statusOf } from './es-client';
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
    // A search, then one bulk of deletes: `_delete_by_query` needs the reindex module, which not
    // every distribution has.
    deleteStale: (before, limit) =>
      guard(async () => {
        const res = await client
          .search({
            index,
            query: { range: { '@timestamp': { lt: before.toISOString() } } },
            sort: [{ '@timestamp': { order: 'asc' } }],
            size: limit,
            _source: false,
          })
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
