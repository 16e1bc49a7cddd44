/**
 * Files delivered to agents (`GET /api/fleet/file/{id}`) and artifacts (`GET /api/fleet/artifacts`).
 * In a real cluster Kibana (and Elastic Defend) write these documents; this server only reads them.
 * The write methods exist for the embedded store, where nothing else would, and for tests.
 */

/** Chunk size elastic/fleet-server assumes when a file's metadata does not name one (4 MiB). */
export const DEFAULT_FILE_CHUNK_SIZE = 4 * 1024 * 1024;

/**
 * Where a delivered file lives:
 * - `tohost`: an agent-targeted file of an integration (`.fleet-fileds-tohost-{meta,data}-<source>`);
 * - `library`: a long-lived file of an integration's library (`.<integration>-fleetfiles-<library>-{meta,data}`).
 * Names must already be sanitised (see `sanitizeFileIndexInput`).
 */
export type FileShelf = { kind: 'tohost'; source: string } | { kind: 'library'; integration: string; library: string };

/** The meta and data index names of a shelf (`*` as the source matches every integration). */
export function fileShelfIndices(shelf: FileShelf): { meta: string; data: string } {
  if (shelf.kind === 'tohost') {
    return { meta: `.fleet-fileds-tohost-meta-${shelf.source}`, data: `.fleet-fileds-tohost-data-${shelf.source}` };
  }
  return { meta: `.${shelf.integration}-fleetfiles-${shelf.library}-meta`, data: `.${shelf.integration}-fleetfiles-${shelf.library}-data` };
}

/** elastic/fleet-server's index-name input clean-up: trimmed, lowercased, `* ? " < > \ / , | #` removed. */
export function sanitizeFileIndexInput(value: string): string {
  return value.trim().toLowerCase().replace(/[*?"<>\\/,|#]/g, '');
}

/** The `file` object of a file metadata document (the fields Kibana's file service writes). */
export interface DeliveryFileInfo {
  name?: string;
  size: number;
  ChunkSize?: number;
  Status: string;
  mime_type?: string;
  extension?: string;
  hash?: { sha256?: string; [algorithm: string]: unknown };
  Meta?: { target_agents?: string[]; action_id?: string; [key: string]: unknown };
  [extra: string]: unknown;
}

/** A file metadata document (`_id` is the file id). Extra fields are kept as they are. */
export interface DeliveryFileMeta {
  '@timestamp'?: string | number;
  file: DeliveryFileInfo;
  [extra: string]: unknown;
}

/** A file found for delivery. */
export interface DeliveryFile {
  id: string;
  meta: DeliveryFileMeta;
  /** The data index (or pattern) its chunks are searched in. */
  dataIndex: string;
}

/** One stored chunk of a file, without its bytes. `_id` is `<file id>.<pos>`. */
export interface DeliveryChunkInfo {
  id: string;
  /** The concrete index holding the chunk. */
  index: string;
  pos: number;
  last: boolean;
  /** Length of `data` in bytes, where the backend knows it without reading the chunk. */
  size?: number;
}

export interface DeliveryChunkWrite {
  data: Buffer;
  last: boolean;
}

export interface DeliveryFileStore {
  /** The READY file `id` among the agent-targeted files of every integration, if it targets `agentId`. */
  findForAgent(id: string, agentId: string): Promise<DeliveryFile | undefined>;
  /** The file `id` of an integration's library (no target or status check, as the reference). */
  findInLibrary(id: string, integration: string, library: string): Promise<DeliveryFile | undefined>;
  /** The chunks stored for the file, by ascending position (duplicates included, if any). */
  listChunks(file: DeliveryFile): Promise<DeliveryChunkInfo[]>;
  /** One chunk's bytes; undefined if it is gone. */
  readChunk(chunk: DeliveryChunkInfo): Promise<Buffer | undefined>;
  /** Stores a metadata document; `DocumentConflictError` if the id exists on that shelf. */
  create(shelf: FileShelf, id: string, meta: DeliveryFileMeta): Promise<void>;
  /** Stores (or replaces) chunk `pos` of file `fileId`, as `{bid, last, data}` with id `<fileId>.<pos>`. */
  putChunk(shelf: FileShelf, fileId: string, pos: number, chunk: DeliveryChunkWrite): Promise<void>;
}

/** A `.fleet-artifacts` document (written by Kibana's Fleet plugin for Elastic Defend). */
export interface ArtifactDoc {
  identifier: string;
  compression_algorithm: string;
  encryption_algorithm: string;
  /** SHA-256 of the stored bytes (the base64-decoded `body`). */
  encoded_sha256: string;
  encoded_size: number;
  /** SHA-256 of the uncompressed content: what agents ask for. */
  decoded_sha256: string;
  decoded_size: number;
  created: string;
  /** The stored bytes, base64. */
  body: string;
  package_name?: string;
}

/** Kibana's id of an artifact document: `<package_name>:<identifier>-<decoded_sha256>`. */
export const artifactDocId = (doc: ArtifactDoc): string => `${doc.package_name ?? 'endpoint'}:${doc.identifier}-${doc.decoded_sha256}`;

export interface ArtifactStore {
  /** The artifact with this identifier and decoded SHA-256, if any. */
  get(identifier: string, decodedSha256: string): Promise<ArtifactDoc | undefined>;
  /** Stores (or replaces) an artifact under `artifactDocId(doc)`. */
  put(doc: ArtifactDoc): Promise<void>;
}
