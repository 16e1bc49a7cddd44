import type { Client, estypes } from '@elastic/elasticsearch';
import { DocumentConflictError, DocumentNotFoundError } from '../errors';
import type { AuditRecord, AuditStore, ManagementKeyRecord, ManagementKeyStore } from '../management-store';
import type { Page, PageRequest } from '../store-port';
import { statusOf } from './es-client';
import { ES_INDICES } from './es-indices';

const CONFLICT_RETRIES = 10;
const is404 = (err: unknown): boolean => statusOf(err) === 404;
const is409 = (err: unknown): boolean => statusOf(err) === 409;

/**
 * Management keys and the audit trail on Elasticsearch. Keys are read with a real-time GET, so a
 * revocation written by one replica is seen by every other on its next request. Audit documents are
 * written with op_type create and nothing here updates or deletes them.
 */
export function createEsManagementStores(
  client: Client,
  guard: <T>(fn: () => Promise<T>) => Promise<T>,
): { managementKeys: ManagementKeyStore; audit: AuditStore } {
  const keys = ES_INDICES.managementKeys.alias;
  const trail = ES_INDICES.audit.alias;

  const create = async (index: string, id: string, doc: object, collection: string): Promise<void> => {
    try {
      await client.create({ index, id, document: doc, refresh: true });
    } catch (err) {
      if (is409(err)) throw new DocumentConflictError(collection, id);
      throw err;
    }
  };

  const getKey = async (id: string) => {
    try {
      const res = await client.get<ManagementKeyRecord>({ index: keys, id });
      return res.found && res._source ? { doc: res._source, seqNo: res._seq_no ?? 0, primaryTerm: res._primary_term ?? 1 } : undefined;
    } catch (err) {
      if (is404(err)) return undefined;
      throw err;
    }
  };

  const page = async <T>(index: string, req: PageRequest, sort: estypes.Sort): Promise<Page<T>> => {
    try {
      const res = await client.search<T>({
        index,
        query: { match_all: {} },
        sort,
        from: (req.page - 1) * req.perPage,
        size: req.perPage,
        track_total_hits: true,
      });
      const total = typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? 0);
      return { total, items: res.hits.hits.map((h) => h._source as T) };
    } catch (err) {
      if (is404(err)) return { total: 0, items: [] };
      throw err;
    }
  };

  const managementKeys: ManagementKeyStore = {
    create: (record) =>
      guard(async () => {
        await create(keys, record.id, record, 'management_keys');
        return record;
      }),
    get: (id) => guard(async () => (await getKey(id))?.doc),
    list: (req) => guard(() => page<ManagementKeyRecord>(keys, req, [{ created_at: 'desc' }, { id: 'desc' }])),
    revoke: (id, by, at) =>
      guard(async () => {
        for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
          const current = await getKey(id);
          if (!current) throw new DocumentNotFoundError('management_keys', id);
          if (current.doc.revoked_at !== undefined) return current.doc;
          const revoked: ManagementKeyRecord = { ...current.doc, revoked_at: at, revoked_by: by };
          try {
            await client.index({ index: keys, id, document: revoked, if_seq_no: current.seqNo, if_primary_term: current.primaryTerm, refresh: true });
            return revoked;
          } catch (err) {
            if (!is409(err)) throw err;
          }
        }
        throw new DocumentConflictError('management_keys', id);
      }),
  };

  const audit: AuditStore = {
    append: (record: AuditRecord) => guard(() => create(trail, record.id, record, 'audit_records')),
    // One shard: `_seq_no` is the order the records were written in.
    list: (req) => guard(() => page<AuditRecord>(trail, req, [{ _seq_no: 'desc' }])),
  };
  return { managementKeys, audit };
}
