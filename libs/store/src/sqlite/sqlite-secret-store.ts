import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { openValue, sealValue, sealingKeyId } from '../sealing';
import { checkSecretValue, secretBatch, type SecretStore } from '../secret-store';

/** The keys of the secrets table: new values are sealed with `current`; `previous` is only read (rotation). */
export interface SecretKeys {
  current: Buffer;
  previous?: Buffer;
}

type SealedRow = { id: string; key_id: string; sealed: Buffer };

/** Rows re-encrypted per transaction during a key rotation. */
const REKEY_BATCH = 500;

/** A new id shaped like Elasticsearch's generated ids (20 URL-safe characters, 120 random bits). */
const newSecretId = (): string => randomBytes(15).toString('base64url');

/**
 * Secrets in the embedded store (table of migration 6): each value sealed with AES-256-GCM, a
 * random IV and the secret's id as AAD; the row names the key that sealed it (`key_id`, a hash of
 * the key). A value that no configured key opens is reported missing, never returned sealed.
 */
export function createSqliteSecretStore(db: Database.Database, guard: <T>(fn: () => T) => Promise<T>, keys: SecretKeys): SecretStore {
  const byKeyId = new Map<string, Buffer>([[sealingKeyId(keys.current), keys.current]]);
  if (keys.previous) byKeyId.set(sealingKeyId(keys.previous), keys.previous);
  const currentId = sealingKeyId(keys.current);
  const select = db.prepare<[string], SealedRow>('SELECT id, key_id, sealed FROM secrets WHERE id IN (SELECT value FROM json_each(?))');
  const insert = db.prepare('INSERT INTO secrets (id, key_id, sealed, created_at) VALUES (?, ?, ?, ?)');
  const remove = db.prepare<[string]>('DELETE FROM secrets WHERE id IN (SELECT value FROM json_each(?))');

  return {
    get: (ids) =>
      guard(() => {
        const wanted = secretBatch(ids);
        const values = new Map<string, string>();
        if (!wanted.length) return values;
        for (const row of select.all(JSON.stringify(wanted))) {
          const key = byKeyId.get(row.key_id);
          const value = key ? openValue(key, row.sealed, row.id) : undefined;
          if (value !== undefined) values.set(row.id, value);
        }
        return values;
      }),
    create: (value) =>
      guard(() => {
        checkSecretValue(value);
        const id = newSecretId();
        insert.run(id, currentId, sealValue(keys.current, value, id), new Date().toISOString());
        return id;
      }),
    delete: (ids) =>
      guard(() => {
        const wanted = secretBatch(ids);
        return wanted.length ? remove.run(JSON.stringify(wanted)).changes : 0;
      }),
  };
}

/**
 * Key rotation: every secret sealed with `keys.previous` is sealed again with `keys.current`, in
 * transactions of `REKEY_BATCH` rows. `unreadable` counts rows that neither key opens (sealed
 * with a key that is no longer configured); they are left as they are.
 */
export function reencryptSecrets(db: Database.Database, keys: SecretKeys): { reencrypted: number; unreadable: number } {
  const currentId = sealingKeyId(keys.current);
  const unreadable = (db.prepare<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM secrets WHERE key_id NOT IN (?, ?)').get(currentId, keys.previous ? sealingKeyId(keys.previous) : currentId)?.n) ?? 0;
  const previous = keys.previous;
  const previousId = previous ? sealingKeyId(previous) : currentId;
  // No previous key, or the same key named twice: nothing to move.
  if (!previous || previousId === currentId) return { reencrypted: 0, unreadable };
  const page = db.prepare<[string, string, number], SealedRow>('SELECT id, key_id, sealed FROM secrets WHERE key_id = ? AND id > ? ORDER BY id LIMIT ?');
  const update = db.prepare('UPDATE secrets SET key_id = ?, sealed = ? WHERE id = ? AND key_id = ?');
  let reencrypted = 0;
  let broken = 0;
  let after = '';
  for (;;) {
    const rows = page.all(previousId, after, REKEY_BATCH);
    if (!rows.length) break;
    db.transaction(() => {
      for (const row of rows) {
        const value = openValue(previous, row.sealed, row.id);
        if (value === undefined) {
          broken += 1;
          continue;
        }
        reencrypted += update.run(currentId, sealValue(keys.current, value, row.id), row.id, previousId).changes;
      }
    }).immediate();
    after = rows[rows.length - 1]?.id ?? after;
    if (rows.length < REKEY_BATCH) break;
  }
  return { reencrypted, unreadable: unreadable + broken };
}
