import type Database from 'better-sqlite3';
import type { ConsoleSessionStore, EndedConsoleSession } from '../console-session-store';

/** Ended console sessions in the embedded store (the table of migration 8). */
export function createSqliteConsoleSessionStore(db: Database.Database, guard: <T>(fn: () => T) => Promise<T>): ConsoleSessionStore {
  // OR IGNORE: ending a session again keeps the first record.
  const insert = db.prepare('INSERT OR IGNORE INTO console_sessions_ended (sid, expires_ms, doc) VALUES (?, ?, ?)');
  const exists = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM console_sessions_ended WHERE sid = ?');
  const sweep = db.prepare<[number, number]>(
    'DELETE FROM console_sessions_ended WHERE sid IN (SELECT sid FROM console_sessions_ended WHERE expires_ms < ? ORDER BY expires_ms LIMIT ?)',
  );
  return {
    end: (record: EndedConsoleSession) =>
      guard(() => {
        insert.run(record.sid, Date.parse(record.expires_at), JSON.stringify(record));
      }),
    isEnded: (sid) => guard(() => exists.get(sid) !== undefined),
    deleteExpired: (before, limit) => guard(() => sweep.run(before.getTime(), Math.max(0, Math.floor(limit))).changes),
  };
}
