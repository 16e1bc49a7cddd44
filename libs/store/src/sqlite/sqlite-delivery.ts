import type Database from 'better-sqlite3';
import {
  artifactDocId,
  fileShelfIndices,
  type ArtifactDoc,
  type ArtifactStore,
  type DeliveryChunkInfo,
  type DeliveryFile,
  type DeliveryFileMeta,
  type DeliveryFileStore,
} from '../delivery-port';
import { DocumentConflictError } from '../errors';

/**
 * Delivered files and artifacts in the embedded store. The tables are created here, idempotently,
 * rather than in the numbered migrations: they only hold documents the server reads (Kibana writes
 * them in a real cluster), and this keeps the feature independent of the migration sequence.
 * Chunk bytes stay BLOBs read one chunk at a time.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS delivery_files (
    meta_index TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (meta_index, id)
  );
  CREATE INDEX IF NOT EXISTS delivery_files_id ON delivery_files (id);
  CREATE TABLE IF NOT EXISTS delivery_chunks (
    data_index TEXT NOT NULL,
    id TEXT NOT NULL,
    bid TEXT NOT NULL,
    pos INTEGER NOT NULL,
    last INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (data_index, id)
  );
  CREATE INDEX IF NOT EXISTS delivery_chunks_bid ON delivery_chunks (bid, pos);
  CREATE TABLE IF NOT EXISTS artifacts (
    id TEXT PRIMARY KEY,
    identifier TEXT NOT NULL,
    decoded_sha256 TEXT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS artifacts_lookup ON artifacts (identifier, decoded_sha256);
`;

type Guard = <T>(fn: () => T) => Promise<T>;

const TOHOST_META_PREFIX = fileShelfIndices({ kind: 'tohost', source: '' }).meta;
const TOHOST_DATA_PATTERN = fileShelfIndices({ kind: 'tohost', source: '*' }).data;


export function createSqliteDeliveryStores(db: Database.Database, guard: Guard): { deliveryFiles: DeliveryFileStore; artifacts: ArtifactStore } {
  db.exec(SCHEMA);

  const forAgentStmt = db.prepare<[{ id: string; prefix: string; agent: string }], { doc: string }>(
    `SELECT doc FROM delivery_files
     WHERE id = @id AND substr(meta_index, 1, length(@prefix)) = @prefix
       AND json_extract(doc, '$.file.Status') = 'READY'
       AND EXISTS (SELECT 1 FROM json_each(doc, '$.file.Meta.target_agents') WHERE value = @agent)
     ORDER BY meta_index LIMIT 1`,
  );
  const byIdStmt = db.prepare<[string, string], { doc: string }>('SELECT doc FROM delivery_files WHERE meta_index = ? AND id = ?');
  const insertFileStmt = db.prepare('INSERT INTO delivery_files (meta_index, id, doc) VALUES (?, ?, ?)');
  const putChunkStmt = db.prepare(
    `INSERT INTO delivery_chunks (data_index, id, bid, pos, last, data) VALUES (@index, @id, @bid, @pos, @last, @data)
     ON CONFLICT (data_index, id) DO UPDATE SET bid = excluded.bid, pos = excluded.pos, last = excluded.last, data = excluded.data`,
  );
  const chunkStmt = db.prepare<[string, string], { data: Buffer }>('SELECT data FROM delivery_chunks WHERE data_index = ? AND id = ?');
  type ChunkRow = { id: string; data_index: string; pos: number; last: number; size: number };
  const chunkColumns = 'SELECT id, data_index, pos, last, length(data) AS size FROM delivery_chunks';
  const listChunksStmt = {
    exact: db.prepare<[{ bid: string; index: string }], ChunkRow>(`${chunkColumns} WHERE bid = @bid AND data_index = @index ORDER BY pos, data_index`),
    prefix: db.prepare<[{ bid: string; index: string }], ChunkRow>(
      `${chunkColumns} WHERE bid = @bid AND substr(data_index, 1, length(@index)) = @index ORDER BY pos, data_index`,
    ),
  };
  const artifactStmt = db.prepare<[string, string], { doc: string }>(
    'SELECT doc FROM artifacts WHERE identifier = ? AND decoded_sha256 = ? LIMIT 1',
  );
  const putArtifactStmt = db.prepare(
    `INSERT INTO artifacts (id, identifier, decoded_sha256, doc) VALUES (?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET identifier = excluded.identifier, decoded_sha256 = excluded.decoded_sha256, doc = excluded.doc`,
  );

  const deliveryFiles: DeliveryFileStore = {
    findForAgent: (id, agentId) =>
      guard(() => {
        const row = forAgentStmt.get({ id, prefix: TOHOST_META_PREFIX, agent: agentId });
        return row ? { id, meta: JSON.parse(row.doc) as DeliveryFileMeta, dataIndex: TOHOST_DATA_PATTERN } : undefined;
      }),
    findInLibrary: (id, integration, library) =>
      guard(() => {
        const names = fileShelfIndices({ kind: 'library', integration, library });
        const row = byIdStmt.get(names.meta, id);
        return row ? { id, meta: JSON.parse(row.doc) as DeliveryFileMeta, dataIndex: names.data } : undefined;
      }),
    listChunks: (file: DeliveryFile) =>
      guard(() => {
        // A trailing `*` is a prefix match (never LIKE, whose `_` is a wildcard).
        const prefix = file.dataIndex.endsWith('*');
        const rows = listChunksStmt[prefix ? 'prefix' : 'exact'].all({ bid: file.id, index: prefix ? file.dataIndex.slice(0, -1) : file.dataIndex });
        return rows.map((r): DeliveryChunkInfo => ({ id: r.id, index: r.data_index, pos: r.pos, last: r.last === 1, size: r.size }));
      }),
    readChunk: (chunk) => guard(() => chunkStmt.get(chunk.index, chunk.id)?.data),
    create: (shelf, id, meta) =>
      guard(() => {
        const index = fileShelfIndices(shelf).meta;
        try {
          insertFileStmt.run(index, id, JSON.stringify(meta));
        } catch (err) {
          if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new DocumentConflictError(index, id);
          throw err;
        }
      }),
    putChunk: (shelf, fileId, pos, chunk) =>
      guard(() => {
        putChunkStmt.run({
          index: fileShelfIndices(shelf).data,
          id: `${fileId}.${pos}`,
          bid: fileId,
          pos,
          last: chunk.last ? 1 : 0,
          data: chunk.data,
        });
      }),
  };

  const artifacts: ArtifactStore = {
    get: (identifier, decodedSha256) =>
      guard(() => {
        const row = artifactStmt.get(identifier, decodedSha256);
        return row ? (JSON.parse(row.doc) as ArtifactDoc) : undefined;
      }),
    put: (doc) =>
      guard(() => {
        putArtifactStmt.run(artifactDocId(doc), doc.identifier, doc.decoded_sha256, JSON.stringify(doc));
      }),
  };

  return { deliveryFiles, artifacts };
}
