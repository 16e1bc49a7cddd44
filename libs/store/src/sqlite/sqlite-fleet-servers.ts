import type Database from 'better-sqlite3';
import type { FleetServerDoc, FleetServerStore } from '../fleet-server-store';

type DocRow = { doc: string };

/** `.fleet-servers` in the embedded store (the table of migration 5): the same records as on Elasticsearch. */
export function createSqliteFleetServerStore(db: Database.Database, guard: <T>(fn: () => T) => Promise<T>): FleetServerStore {
  const upsert = db.prepare(
    'INSERT INTO fleet_servers (id, timestamp_ms, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET timestamp_ms = excluded.timestamp_ms, doc = excluded.doc',
  );
  const get = db.prepare<[string], DocRow>('SELECT doc FROM fleet_servers WHERE id = ?');
  const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM fleet_servers');
  const deleteStale = db.prepare<[number, number]>(
    'DELETE FROM fleet_servers WHERE id IN (SELECT id FROM fleet_servers WHERE timestamp_ms < ? ORDER BY timestamp_ms LIMIT ?)',
  );
  return {
    put: (id, doc) =>
      guard(() => {
        upsert.run(id, Date.parse(doc['@timestamp']), JSON.stringify(doc));
      }),
    get: (id) =>
      guard(() => {
        const row = get.get(id);
        return row ? { _id: id, _seq_no: 0, _source: JSON.parse(row.doc) as FleetServerDoc } : undefined;
      }),
    count: () => guard(() => count.get()?.n ?? 0),
    deleteStale: (before, limit) => guard(() => deleteStale.run(before.getTime(), limit).changes),
  };
}
