/**
 * Files uploaded by agents (diagnostics bundles, endpoint files): elastic/fleet-server's
 * `.fleet-fileds-fromhost-meta-<src>` (one document per file, `_id = <action_id>.<agent_id>`) and
 * `.fleet-fileds-fromhost-data-<src>` (one document per chunk, `_id = <file id>.<n>`), which Kibana
 * reads to list and serve the files.
 */

/** Bytes per chunk; every chunk but the last has exactly this size (the protocol's maximum). */
export const UPLOAD_CHUNK_SIZE = 4 * 1024 * 1024;

/**
 * `file.Status` of a meta document. The reference writes the first five; `EXPIRED` marks an upload
 * abandoned past its expiry (its chunks deleted), a status Kibana's file list knows.
 */
export type UploadStatus = 'AWAITING_UPLOAD' | 'UPLOADING' | 'READY' | 'UPLOAD_ERROR' | 'DELETED' | 'EXPIRED';

/** The meta document, as the reference writes it (fields the agent sent besides these are kept). */
export interface UploadMetaDoc {
  /** Epoch milliseconds, as the reference writes them. */
  '@timestamp': number;
  upload_start: number;
  upload_id: string;
  action_id: string;
  agent_id: string;
  src: string;
  namespaces?: string[];
  file: {
    name: string;
    mime_type: string;
    size: number;
    ChunkSize: number;
    Status: UploadStatus;
    hash?: Record<string, string>;
    [field: string]: unknown;
  };
  transithash?: { sha256: string };
  [field: string]: unknown;
}

/** A meta document and its id (`<action_id>.<agent_id>`). */
export interface UploadRecord {
  id: string;
  doc: UploadMetaDoc;
}

/** What the store knows of a chunk without its bytes. */
export interface UploadChunkInfo {
  pos: number;
  last: boolean;
  /** Hex SHA-256 of the chunk as the agent declared it (and the gateway verified). */
  sha2: string;
}

export interface UploadChunk extends UploadChunkInfo {
  data: Buffer;
}

/** Where a file's chunks live: its id and source (the `<src>` of the index names). */
export type UploadFileRef = Pick<UploadRecord, 'id'> & { src: string };

export interface FileUploadStore {
  /** Creates the meta document under `<action_id>.<agent_id>`; `DocumentConflictError` if it exists. */
  begin(doc: UploadMetaDoc): Promise<UploadRecord>;
  /**
   * Replaces the meta document under `<action_id>.<agent_id>` (an agent beginning again, with a new
   * upload id, an upload it never finished); `DocumentNotFoundError` if there is none. Chunks are
   * not touched: the caller deletes the old ones first.
   */
  replace(doc: UploadMetaDoc): Promise<UploadRecord>;
  /** The file with this meta id (any source). */
  get(fileId: string): Promise<UploadRecord | undefined>;
  findByUploadId(uploadId: string): Promise<UploadRecord | undefined>;
  /** Files uploaded by the agent (any status), newest first. */
  listByAgent(agentId: string): Promise<UploadRecord[]>;
  /** Stores chunk `pos`; a chunk already stored at that position is replaced. */
  putChunk(file: UploadFileRef, chunk: UploadChunk): Promise<void>;
  /** Deletes chunk `pos` if it exists. */
  deleteChunk(file: UploadFileRef, pos: number): Promise<void>;
  /** Every stored chunk of the file without its bytes, by position. */
  listChunks(file: UploadFileRef): Promise<UploadChunkInfo[]>;
  /** The stored chunks in position order, one at a time (never the whole file in memory). */
  readChunks(file: UploadFileRef): AsyncIterable<UploadChunk>;
  /** Deletes every chunk of the file; returns how many. */
  deleteChunks(file: UploadFileRef): Promise<number>;
  /** Sets `file.Status` (and `transithash`, when given); `DocumentNotFoundError` if the file is gone. */
  setStatus(fileId: string, status: UploadStatus, transithash?: string): Promise<UploadRecord>;
  /**
   * Files that will never complete: still `AWAITING_UPLOAD`/`UPLOADING` and started before
   * `startedBefore`; oldest first, at most `limit`. (A failed upload's chunks are deleted when it fails.)
   */
  findAbandoned(query: { startedBefore: Date; limit: number }): Promise<UploadRecord[]>;
}

/** The meta document id of an agent's upload for an action (the reference's `<action_id>.<agent_id>`). */
export const uploadFileId = (actionId: string, agentId: string): string => `${actionId}.${agentId}`;
