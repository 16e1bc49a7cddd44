import type Database from 'better-sqlite3';
import { DocumentConflictError, DocumentNotFoundError } from '../errors';
import type { AuditRecord, AuditStore, ManagementKeyRecord, ManagementKeyStore } from '../management-store';

type DocRow = { doc: string };

const isUniqueViolation = (err: unknown): boolean =>
  typeof (err as { code?: unknown })?.code === 'string' && String((err as { code: string }).code).startsWith('SQLITE_CONSTRAINT');

/** Management keys and the audit trail in the embedded store (tables of migration 4). */
export function createSqliteManagementStores(
  db: Database.Database,
  guard: <T>(fn: () => T) => Promise<T>,
): { managementKeys: ManagementKeyStore; audit: AuditStore } {
  const getKey = db.prepare<[string], DocRow>('SELECT doc FROM management_keys WHERE id = ?');
  const insertKey = db.prepare('INSERT INTO management_keys (id, created_at, doc) VALUES (?, ?, ?)');
  const updateKey = db.prepare('UPDATE management_keys SET doc = ? WHERE id = ?');
  const countKeys = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM management_keys');
  const pageKeys = db.prepare<[number, number], DocRow>('SELECT doc FROM management_keys ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?');
  const insertAudit = db.prepare('INSERT INTO audit_records (id, doc) VALUES (?, ?)');
  const countAudit = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM audit_records');
  const pageAudit = db.prepare<[number, number], DocRow>('SELECT doc FROM audit_records ORDER BY seq DESC LIMIT ? OFFSET ?');
  const parse = <T>(row: DocRow): T => JSON.parse(row.doc) as T;

  const managementKeys: ManagementKeyStore = {
    create: (record) =>
      guard(() => {
        try {
          insertKey.run(record.id, record.created_at, JSON.stringify(record));
        } catch (err) {
          if (isUniqueViolation(err)) throw new DocumentConflictError('management_keys', record.id);
          throw err;
        }
        return record;
      }),
    get: (id) =>
      guard(() => {
        const row = getKey.get(id);
        return row ? parse<ManagementKeyRecord>(row) : undefined;
      }),
    list: (req) =>
      guard(() => ({
        total: countKeys.get()?.n ?? 0,
        items: pageKeys.all(req.perPage, (req.page - 1) * req.perPage).map((r) => parse<ManagementKeyRecord>(r)),
      })),
    revoke: (id, by, at) =>
      guard(() =>
        db.transaction(() => {
          const row = getKey.get(id);
          if (!row) throw new DocumentNotFoundError('management_keys', id);
          const current = parse<ManagementKeyRecord>(row);
          if (current.revoked_at !== undefined) return current;
          const revoked: ManagementKeyRecord = { ...current, revoked_at: at, revoked_by: by };
          updateKey.run(JSON.stringify(revoked), id);
          return revoked;
        }).immediate(),
      ),
  };

  const audit: AuditStore = {
    append: (record: AuditRecord) =>
      guard(() => {
        try {
          insertAudit.run(record.id, JSON.stringify(record));
        } catch (err) {
          if (isUniqueViolation(err)) throw new DocumentConflictError('audit_records', record.id);
          throw err;
        }
      }),
    list: (req) =>
      guard(() => ({
        total: countAudit.get()?.n ?? 0,
        items: pageAudit.all(req.perPage, (req.page - 1) * req.perPage).map((r) => parse<AuditRecord>(r)),
      })),
  };
  return { managementKeys, audit };
}
