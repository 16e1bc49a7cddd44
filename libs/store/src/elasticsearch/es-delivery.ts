import type { Client, estypes } from '@elastic/elasticsearch';
import {
  artifactDocId,
  fileShelfIndices,
  type ArtifactDoc,
  type ArtifactStore,
  type DeliveryChunkInfo,
  type DeliveryFileMeta,
  type DeliveryFileStore,
  type FileShelf,
} from '../delivery-port';
import { DocumentConflictError } from '../errors';
import { errorType, statusOf } from './es-client';
import { ES_INDICES, INDEX_SETTINGS } from './es-indices';

type Guard = <T>(fn: () => Promise<T>) => Promise<T>;

const keyword = { type: 'keyword' };

/**
 * Mappings of the file indices where this backend creates them (no fleet module): the fields the
 * delivery queries use, as the reference's index templates map them; the rest stays in `_source`.
 */
const FILE_META_MAPPINGS = {
  dynamic: false,
  properties: {
    '@timestamp': { type: 'date' },
    action_id: keyword,
    agent_id: keyword,
    src: keyword,
    upload_id: keyword,
    file: {
      properties: {
        name: keyword,
        size: { type: 'long' },
        ChunkSize: { type: 'long' },
        Status: keyword,
        mime_type: keyword,
        hash: { properties: { sha256: keyword } },
        Meta: { properties: { target_agents: keyword, action_id: keyword } },
      },
    },
  },
};
const FILE_DATA_MAPPINGS = {
  dynamic: false,
  properties: { '@timestamp': { type: 'date' }, bid: keyword, last: { type: 'boolean' }, sha2: keyword, data: { type: 'binary' } },
};

/** Patterns cover hidden indices and data streams; a pattern matching nothing is an empty result. */
const PATTERN_OPTIONS = { expand_wildcards: ['open', 'hidden'] as estypes.ExpandWildcards, ignore_unavailable: true, allow_no_indices: true };

const is404 = (err: unknown): boolean => statusOf(err) === 404;

const firstField = (fields: Record<string, unknown> | undefined, name: string): unknown => {
  const values = fields?.[name];
  return Array.isArray(values) ? (values[0] as unknown) : undefined;
};

export function createEsDeliveryStores(
  client: Client,
  guard: Guard,
  fleetModule: () => boolean,
): { deliveryFiles: DeliveryFileStore; artifacts: ArtifactStore } {
  /** Without the fleet module nothing creates the file indices: create them with their mappings. */
  const ensureIndex = async (index: string, mappings: Record<string, unknown>): Promise<void> => {
    if (fleetModule()) return;
    try {
      await client.indices.create({ index, settings: { index: INDEX_SETTINGS }, mappings });
    } catch (err) {
      if (errorType(err) !== 'resource_already_exists_exception') throw err;
    }
  };

  const readMeta = async (index: string, id: string): Promise<DeliveryFileMeta | undefined> => {
    try {
      const res = await client.get<DeliveryFileMeta>({ index, id });
      return res.found ? res._source : undefined;
    } catch (err) {
      if (is404(err)) return undefined;
      throw err;
    }
  };

  const deliveryFiles: DeliveryFileStore = {
    findForAgent: (id, agentId) =>
      guard(async () => {
        const names = fileShelfIndices({ kind: 'tohost', source: '*' });
        const res = await client.search<DeliveryFileMeta>({
          index: names.meta,
          ...PATTERN_OPTIONS,
          size: 1,
          query: {
            bool: {
              filter: [{ term: { _id: id } }, { term: { 'file.Meta.target_agents': agentId } }, { term: { 'file.Status': 'READY' } }],
            },
          },
        });
        const hit = res.hits.hits[0];
        return hit?._source ? { id, meta: hit._source, dataIndex: names.data } : undefined;
      }),
    findInLibrary: (id, integration, library) =>
      guard(async () => {
        const names = fileShelfIndices({ kind: 'library', integration, library });
        const meta = await readMeta(names.meta, id);
        return meta ? { id, meta, dataIndex: names.data } : undefined;
      }),
    listChunks: (file) =>
      guard(async () => {
        const res = await client.search({
          index: file.dataIndex,
          ...PATTERN_OPTIONS,
          size: 10_000,
          _source: false,
          fields: ['bid', 'last'],
          query: { term: { bid: file.id } },
        });
        const chunks: DeliveryChunkInfo[] = [];
        for (const hit of res.hits.hits) {
          const id = hit._id ?? '';
          const suffix = id.startsWith(`${file.id}.`) ? id.slice(file.id.length + 1) : '';
          if (!/^\d+$/.test(suffix) || firstField(hit.fields, 'bid') !== file.id) continue;
          chunks.push({ id, index: hit._index, pos: Number(suffix), last: firstField(hit.fields, 'last') === true });
        }
        return chunks.sort((a, b) => a.pos - b.pos || a.index.localeCompare(b.index));
      }),
    readChunk: (chunk) =>
      guard(async () => {
        try {
          const res = await client.get<{ data?: string }>({ index: chunk.index, id: chunk.id, _source_includes: ['data'] });
          const data = res.found ? res._source?.data : undefined;
          return typeof data === 'string' ? Buffer.from(data, 'base64') : undefined;
        } catch (err) {
          if (is404(err)) return undefined;
          throw err;
        }
      }),
    create: (shelf: FileShelf, id, meta) =>
      guard(async () => {
        const index = fileShelfIndices(shelf).meta;
        await ensureIndex(index, FILE_META_MAPPINGS);
        const document = { '@timestamp': Date.now(), ...meta };
        try {
          await client.index({ index, id, document, op_type: 'create', refresh: true });
        } catch (err) {
          if (statusOf(err) === 409) throw new DocumentConflictError(index, id);
          throw err;
        }
      }),
    putChunk: (shelf, fileId, pos, chunk) =>
      guard(async () => {
        const index = fileShelfIndices(shelf).data;
        await ensureIndex(index, FILE_DATA_MAPPINGS);
        const document = { '@timestamp': Date.now(), bid: fileId, last: chunk.last, data: chunk.data.toString('base64') };
        // Data streams (the fleet module's templates) take creates only.
        await client.index({ index, id: `${fileId}.${pos}`, document, refresh: true, ...(fleetModule() ? { op_type: 'create' as const } : {}) });
      }),
  };

  const artifacts: ArtifactStore = {
    get: (identifier, decodedSha256) =>
      guard(async () => {
        try {
          const res = await client.search<ArtifactDoc>({
            index: ES_INDICES.artifacts.alias,
            size: 1,
            query: { bool: { filter: [{ term: { decoded_sha256: decodedSha256 } }, { term: { identifier } }] } },
          });
          return res.hits.hits[0]?._source;
        } catch (err) {
          if (is404(err)) return undefined;
          throw err;
        }
      }),
    put: (doc) =>
      guard(async () => {
        await client.index({ index: ES_INDICES.artifacts.alias, id: artifactDocId(doc), document: doc, refresh: true });
      }),
  };

  return { deliveryFiles, artifacts };
}
