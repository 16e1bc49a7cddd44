import type Database from 'better-sqlite3';
import type { OutputHealthDoc, OutputHealthStore } from '../output-health';

/** Output health documents in the embedded store (the table of migration 7), oldest first. */
export function createSqliteOutputHealthStore(db: Database.Database, guard: <T>(fn: () => T) => Promise<T>): OutputHealthStore {
  const insert = db.prepare('INSERT INTO output_health (output, timestamp_ms, doc) VALUES (?, ?, ?)');
  return {
    write: (doc: OutputHealthDoc) =>
      guard(() => {
        insert.run(doc.output, Date.parse(doc['@timestamp']), JSON.stringify(doc));
      }),
  };
}

/** The documents of one output, newest first (for the console and the tests; bounded by `limit`). */
export function readSqliteOutputHealth(db: Database.Database, output: string, limit: number): OutputHealthDoc[] {
  return db
    .prepare<[string, number], { doc: string }>('SELECT doc FROM output_health WHERE output = ? ORDER BY seq DESC LIMIT ?')
    .all(output, Math.min(Math.max(limit, 1), 1_000))
    .map((r) => JSON.parse(r.doc) as OutputHealthDoc);
}
