import type { Client, estypes } from '@elastic/elasticsearch';
import { DocumentConflictError, DocumentNotFoundError } from '../errors';
import {
  uploadFileId,
  type FileUploadStore,
  type UploadChunk,
  type UploadChunkInfo,
  type UploadFileRef,
  type UploadMetaDoc,
  type UploadRecord,
} from '../upload-store';
import { errorType, statusOf } from './es-client';
import { FILE_FROM_HOST_INDICES, INDEX_SETTINGS } from './es-indices';

type ChunkSource = { '@timestamp': number; last: boolean; bid: string; sha2: string; data?: string };
type MetaHit = UploadRecord & { index: string; seqNo: number; primaryTerm: number };

const META = FILE_FROM_HOST_INDICES.meta;
const DATA = FILE_FROM_HOST_INDICES.data;
const ALL_META = `${META.prefix}*`;
/** The meta and data indices are hidden (data streams or indices): wildcards must say so. */
const EXPAND = ['open', 'hidden'] as estypes.ExpandWildcards;
const MAX_CHUNKS = 10_000;
const STATUS_RETRIES = 20;

const is404 = (err: unknown): boolean => statusOf(err) === 404;
const is409 = (err: unknown): boolean => statusOf(err) === 409;
const chunkId = (fileId: string, pos: number): string => `${fileId}.${pos}`;
const posOf = (fileId: string, id: string): number => Number(id.slice(fileId.length + 1));

/**
 * Uploaded files in Elasticsearch, in the reference's indices and document shapes. Where the fleet
 * module makes them data streams, documents are only ever created (op_type create), and changed or
 * deleted in their backing index with `if_seq_no` (data streams refuse writes by id) — never with a
 * script: a status change is an optimistic read-modify-write of the meta document.
 */
export function createEsUploadStore(
  client: Client,
  fleetModule: () => boolean,
  guard: <T>(fn: () => Promise<T>) => Promise<T>,
): FileUploadStore {
  const ensured = new Map<string, Promise<void>>();

  /** Without the fleet module nothing creates the indices of a source: create them on first use. */
  const ensureIndices = (src: string): Promise<void> => {
    if (fleetModule()) return Promise.resolve();
    let done = ensured.get(src);
    if (!done) {
      done = (async () => {
        for (const def of [META, DATA]) {
          try {
            await client.indices.create({ index: def.prefix + src, settings: { index: INDEX_SETTINGS }, mappings: def.mappings });
          } catch (err) {
            if (errorType(err) !== 'resource_already_exists_exception') throw err;
          }
        }
      })();
      done.catch(() => ensured.delete(src));
      ensured.set(src, done);
    }
    return done;
  };

  const searchMeta = async (query: estypes.QueryDslQueryContainer, extra: Partial<estypes.SearchRequest> = {}): Promise<MetaHit[]> => {
    try {
      const res = await client.search<UploadMetaDoc>({
        index: ALL_META,
        expand_wildcards: EXPAND,
        ignore_unavailable: true,
        allow_no_indices: true,
        seq_no_primary_term: true,
        query,
        size: 1000,
        ...extra,
      });
      return res.hits.hits.map((h) => ({
        id: h._id ?? '',
        doc: h._source as UploadMetaDoc,
        index: h._index,
        seqNo: h._seq_no ?? 0,
        primaryTerm: h._primary_term ?? 1,
      }));
    } catch (err) {
      if (is404(err)) return [];
      throw err;
    }
  };
  const plain = (h: MetaHit | undefined): UploadRecord | undefined => (h ? { id: h.id, doc: h.doc } : undefined);

  const refreshData = async (src: string): Promise<void> => {
    await client.indices.refresh({ index: DATA.prefix + src, ignore_unavailable: true, allow_no_indices: true, expand_wildcards: EXPAND });
  };

  /** Chunk documents matching `query`; `refresh` first makes chunks written without refresh visible. */
  const chunkHits = async (file: UploadFileRef, query: estypes.QueryDslQueryContainer, source: string[], refresh = true) => {
    if (refresh) await refreshData(file.src);
    try {
      const res = await client.search<ChunkSource>({
        index: DATA.prefix + file.src,
        ignore_unavailable: true,
        allow_no_indices: true,
        query,
        _source: source.length ? source : false,
        size: MAX_CHUNKS,
      });
      return res.hits.hits;
    } catch (err) {
      if (is404(err)) return [];
      throw err;
    }
  };

  /**
   * Deletes the matching chunks where they live (a data stream's backing index takes deletes by id;
   * no delete_by_query, which needs the reindex module).
   */
  const deleteChunksWhere = async (file: UploadFileRef, query: estypes.QueryDslQueryContainer): Promise<number> => {
    const hits = await chunkHits(file, query, []);
    if (!hits.length) return 0;
    const res = await client.bulk({
      operations: hits.map((h) => ({ delete: { _index: h._index, _id: h._id ?? '' } })),
      refresh: true,
    });
    return res.items.filter((item) => item.delete?.status === 200).length;
  };

  const createChunk = (file: UploadFileRef, chunk: UploadChunk) =>
    client.create<ChunkSource>({
      index: DATA.prefix + file.src,
      id: chunkId(file.id, chunk.pos),
      document: { '@timestamp': Date.now(), last: chunk.last, bid: file.id, sha2: chunk.sha2, data: chunk.data.toString('base64') },
    });

  /** Optimistic read-modify-write of a meta document in the index that holds it (never a script). */
  const rewrite = async (fileId: string, change: (current: UploadMetaDoc) => UploadMetaDoc): Promise<UploadRecord> => {
    for (let attempt = 0; attempt < STATUS_RETRIES; attempt++) {
      const current = (await searchMeta({ ids: { values: [fileId] } }))[0];
      if (!current) throw new DocumentNotFoundError('.fleet-fileds-fromhost-meta', fileId);
      const doc = change(current.doc);
      try {
        await client.index({
          index: current.index,
          id: fileId,
          document: doc,
          if_seq_no: current.seqNo,
          if_primary_term: current.primaryTerm,
          refresh: true,
        });
        return { id: fileId, doc };
      } catch (err) {
        if (!is409(err)) throw err;
      }
    }
    throw new DocumentConflictError('.fleet-fileds-fromhost-meta', fileId);
  };

  const listChunks = (file: UploadFileRef): Promise<UploadChunkInfo[]> =>
    guard(async () => {
      const hits = await chunkHits(file, { term: { bid: file.id } }, ['last', 'sha2']);
      return hits
        .map((h) => ({ pos: posOf(file.id, h._id ?? ''), last: h._source?.last === true, sha2: h._source?.sha2 ?? '' }))
        .filter((c) => Number.isInteger(c.pos))
        .sort((a, b) => a.pos - b.pos);
    });

  return {
    begin: (doc) =>
      guard(async () => {
        await ensureIndices(doc.src);
        const id = uploadFileId(doc.action_id, doc.agent_id);
        try {
          await client.create({ index: META.prefix + doc.src, id, document: doc, refresh: true });
        } catch (err) {
          if (is409(err)) throw new DocumentConflictError('.fleet-fileds-fromhost-meta', id);
          throw err;
        }
        return { id, doc };
      }),
    get: (fileId) => guard(async () => plain((await searchMeta({ ids: { values: [fileId] } }))[0])),
    findByUploadId: (uploadId) => guard(async () => plain((await searchMeta({ term: { upload_id: uploadId } }))[0])),
    listByAgent: (agentId) =>
      guard(async () =>
        (await searchMeta({ term: { agent_id: agentId } }, { sort: [{ upload_start: { order: 'desc', unmapped_type: 'date' } }] })).map(
          (h) => ({ id: h.id, doc: h.doc }),
        ),
      ),
    putChunk: (file, chunk) =>
      guard(async () => {
        await ensureIndices(file.src);
        try {
          await createChunk(file, chunk);
        } catch (err) {
          if (!is409(err)) throw err;
          // A chunk sent again replaces the stored one: delete it where it lives, then create.
          await deleteChunksWhere(file, { ids: { values: [chunkId(file.id, chunk.pos)] } });
          await createChunk(file, chunk);
        }
      }),
    deleteChunk: (file, pos) =>
      guard(async () => {
        await deleteChunksWhere(file, { ids: { values: [chunkId(file.id, pos)] } });
      }),
    listChunks,
    readChunks: (file) => ({
      async *[Symbol.asyncIterator](): AsyncIterator<UploadChunk> {
        for (const info of await listChunks(file)) {
          // listChunks refreshed the index already.
          const hits = await guard(() => chunkHits(file, { ids: { values: [chunkId(file.id, info.pos)] } }, ['last', 'sha2', 'data'], false));
          const source = hits[0]?._source;
          if (!source?.data) continue;
          yield { pos: info.pos, last: source.last === true, sha2: source.sha2, data: Buffer.from(source.data, 'base64') };
        }
      },
    }),
    deleteChunks: (file) => guard(() => deleteChunksWhere(file, { term: { bid: file.id } })),
    replace: (doc) => guard(() => rewrite(uploadFileId(doc.action_id, doc.agent_id), () => doc)),
    setStatus: (fileId, status, transithash) =>
      guard(() =>
        rewrite(fileId, (current) => ({
          ...current,
          file: { ...current.file, Status: status },
          ...(transithash !== undefined ? { transithash: { sha256: transithash } } : {}),
        })),
      ),
    findAbandoned: ({ startedBefore, limit }) =>
      guard(async () =>
        (
          await searchMeta(
            {
              bool: {
                filter: [
                  { terms: { 'file.Status': ['AWAITING_UPLOAD', 'UPLOADING'] } },
                  { range: { upload_start: { lt: startedBefore.getTime() } } },
                ],
              },
            },
            { sort: [{ upload_start: { order: 'asc', unmapped_type: 'date' } }], size: limit },
          )
        ).map((h) => ({ id: h.id, doc: h.doc })),
      ),
  };
}
