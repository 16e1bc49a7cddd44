import type Database from 'better-sqlite3';
import { DocumentConflictError, DocumentNotFoundError } from '../errors';
import {
  uploadFileId,
  type FileUploadStore,
  type UploadChunk,
  type UploadChunkInfo,
  type UploadMetaDoc,
  type UploadRecord,
} from '../upload-store';

type MetaRow = { id: string; doc: string };
type ChunkRow = { pos: number; last: number; sha2: string };

const record = (row: MetaRow): UploadRecord => ({ id: row.id, doc: JSON.parse(row.doc) as UploadMetaDoc });

/**
 * Uploaded files in the embedded store: chunks are BLOBs in a table of the same database file as
 * their meta rows. One file to back up and move, a chunk and its meta written and deleted in one
 * transaction, and readers in other processes see the same data (WAL); files in the data directory
 * would need their own fsync, locking and orphan cleanup across the standalone services.
 */
export function createSqliteUploadStore(db: Database.Database, guard: <T>(fn: () => T) => Promise<T>): FileUploadStore {
  const getStmt = db.prepare<[string], MetaRow>('SELECT id, doc FROM file_uploads WHERE id = ?');
  const byUploadStmt = db.prepare<[string], MetaRow>('SELECT id, doc FROM file_uploads WHERE upload_id = ?');
  const byAgentStmt = db.prepare<[string], MetaRow>(
    'SELECT id, doc FROM file_uploads WHERE agent_id = ? ORDER BY upload_start DESC, id ASC',
  );
  const insertStmt = db.prepare(
    `INSERT INTO file_uploads (id, upload_id, agent_id, action_id, src, status, upload_start, doc)
     VALUES (@id, @upload_id, @agent_id, @action_id, @src, @status, @upload_start, @doc)`,
  );
  const replaceStmt = db.prepare('UPDATE file_uploads SET status = ?, doc = ? WHERE id = ?');
  const restartStmt = db.prepare(
    `UPDATE file_uploads SET upload_id = @upload_id, src = @src, status = @status, upload_start = @upload_start, doc = @doc
     WHERE id = @id`,
  );
  const abandonedStmt = db.prepare<[number, number], MetaRow>(
    `SELECT id, doc FROM file_uploads
     WHERE status IN ('AWAITING_UPLOAD', 'UPLOADING') AND upload_start < ?
     ORDER BY upload_start ASC, id ASC LIMIT ?`,
  );
  const putChunkStmt = db.prepare(
    `INSERT INTO file_chunks (file_id, pos, last, sha2, created_ms, data) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (file_id, pos) DO UPDATE SET last = excluded.last, sha2 = excluded.sha2,
       created_ms = excluded.created_ms, data = excluded.data`,
  );
  const deleteChunkStmt = db.prepare('DELETE FROM file_chunks WHERE file_id = ? AND pos = ?');
  const deleteChunksStmt = db.prepare('DELETE FROM file_chunks WHERE file_id = ?');
  const listChunksStmt = db.prepare<[string], ChunkRow>(
    'SELECT pos, last, sha2 FROM file_chunks WHERE file_id = ? ORDER BY pos ASC',
  );
  const readChunkStmt = db.prepare<[string, number], ChunkRow & { data: Buffer }>(
    'SELECT pos, last, sha2, data FROM file_chunks WHERE file_id = ? AND pos = ?',
  );

  return {
    begin: (doc) =>
      guard(() =>
        db.transaction(() => {
          const id = uploadFileId(doc.action_id, doc.agent_id);
          if (getStmt.get(id)) throw new DocumentConflictError('.fleet-fileds-fromhost-meta', id);
          insertStmt.run({
            id,
            upload_id: doc.upload_id,
            agent_id: doc.agent_id,
            action_id: doc.action_id,
            src: doc.src,
            status: doc.file.Status,
            upload_start: doc.upload_start,
            doc: JSON.stringify(doc),
          });
          return { id, doc };
        }).immediate(),
      ),
    replace: (doc) =>
      guard(() => {
        const id = uploadFileId(doc.action_id, doc.agent_id);
        const changed = restartStmt.run({
          id,
          upload_id: doc.upload_id,
          src: doc.src,
          status: doc.file.Status,
          upload_start: doc.upload_start,
          doc: JSON.stringify(doc),
        }).changes;
        if (!changed) throw new DocumentNotFoundError('.fleet-fileds-fromhost-meta', id);
        return { id, doc };
      }),
    get: (fileId) =>
      guard(() => {
        const row = getStmt.get(fileId);
        return row ? record(row) : undefined;
      }),
    findByUploadId: (uploadId) =>
      guard(() => {
        const row = byUploadStmt.get(uploadId);
        return row ? record(row) : undefined;
      }),
    listByAgent: (agentId) => guard(() => byAgentStmt.all(agentId).map(record)),
    putChunk: (file, chunk) =>
      guard(() => {
        putChunkStmt.run(file.id, chunk.pos, chunk.last ? 1 : 0, chunk.sha2, Date.now(), chunk.data);
      }),
    deleteChunk: (file, pos) =>
      guard(() => {
        deleteChunkStmt.run(file.id, pos);
      }),
    listChunks: (file) =>
      guard(() =>
        listChunksStmt.all(file.id).map((r): UploadChunkInfo => ({ pos: r.pos, last: r.last === 1, sha2: r.sha2 })),
      ),
    readChunks: (file) => ({
      async *[Symbol.asyncIterator](): AsyncIterator<UploadChunk> {
        // One row per statement: a statement kept open across awaits would block writers.
        const positions = (await guard(() => listChunksStmt.all(file.id))).map((r) => r.pos);
        for (const pos of positions) {
          const row = await guard(() => readChunkStmt.get(file.id, pos));
          if (row) yield { pos: row.pos, last: row.last === 1, sha2: row.sha2, data: row.data };
        }
      },
    }),
    deleteChunks: (file) => guard(() => deleteChunksStmt.run(file.id).changes),
    setStatus: (fileId, status, transithash) =>
      guard(() =>
        db.transaction(() => {
          const row = getStmt.get(fileId);
          if (!row) throw new DocumentNotFoundError('.fleet-fileds-fromhost-meta', fileId);
          const current = JSON.parse(row.doc) as UploadMetaDoc;
          const doc: UploadMetaDoc = {
            ...current,
            file: { ...current.file, Status: status },
            ...(transithash !== undefined ? { transithash: { sha256: transithash } } : {}),
          };
          replaceStmt.run(status, JSON.stringify(doc), fileId);
          return { id: fileId, doc };
        }).immediate(),
      ),
    findAbandoned: ({ startedBefore, limit }) => guard(() => abandonedStmt.all(startedBefore.getTime(), limit).map(record)),
  };
}
