import {
  AgentIdentityError,
  BadRequestError,
  UploadActionForbiddenError,
  UploadClosedError,
  UploadConflictError,
  UploadExpiredError,
  UploadFailValidationError,
  UploadFeatureDisabledError,
  UploadFieldRequiredError,
  UploadFileSizeRequiredError,
  UploadFileSizeTooLargeError,
  UploadHashMismatchError,
  UploadInvalidChunkNumError,
  UploadInvalidFileSizeError,
  UploadMissingChunksError,
  UploadNotFoundError,
  UploadStoppedError,
  type Logger,
  type UploadsConfig,
} from '@fleet/service-kit';
import {
  DocumentConflictError,
  UPLOAD_CHUNK_SIZE,
  uploadFileId,
  type AgentDoc,
  type FleetStore,
  type Hit,
  type UploadMetaDoc,
  type UploadRecord,
} from '@fleet/store';
import { createHash, randomUUID } from 'node:crypto';

export interface UploadDeps {
  store: FleetStore;
  config: UploadsConfig;
  logger: Logger;
  now?: () => Date;
}

export interface UploadBeginResponse {
  upload_id: string;
  chunk_size: number;
}

/** `src` names indices (`.fleet-fileds-fromhost-meta-<src>`): lowercase, no separators of index names. */
const SOURCE_PATTERN = /^[a-z0-9_][a-z0-9_-]{0,63}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const UPLOADABLE = new Set(['AWAITING_UPLOAD', 'UPLOADING']);

const nowOf = (deps: UploadDeps): Date => (deps.now ?? (() => new Date()))();
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function requiredString(body: Record<string, unknown>, path: string[]): string {
  let value: unknown = body;
  for (const key of path) value = isObject(value) ? value[key] : undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new UploadFieldRequiredError(`${path.join('.')} is required`);
  return value;
}

/** How many chunks a file of `size` bytes has. */
export const chunkCount = (doc: UploadMetaDoc): number => Math.ceil(doc.file.size / doc.file.ChunkSize);

/**
 * Begin (`POST /api/fleet/uploads`): the reference's checks of the file info, then — stricter — the
 * body's agent must be the authenticated agent and the action must be addressed to it.
 */
export async function beginUpload(deps: UploadDeps, agent: Hit<AgentDoc>, body: Record<string, unknown>): Promise<UploadBeginResponse> {
  const limit = deps.config.maxFileStorageBytes;
  if (limit === 0) throw new UploadFeatureDisabledError();
  const name = requiredString(body, ['file', 'name']);
  const mimeType = requiredString(body, ['file', 'mime_type']);
  const actionId = requiredString(body, ['action_id']);
  const agentId = requiredString(body, ['agent_id']);
  const src = requiredString(body, ['src']);
  const file = body.file as Record<string, unknown>;
  const size = file.size;
  if (typeof size !== 'number' || !Number.isFinite(size)) throw new UploadFileSizeRequiredError();
  if (size <= 0 || !Number.isSafeInteger(size)) throw new UploadInvalidFileSizeError(`file.size: ${size}: invalid filesize`);
  if (limit > 0 && size > limit) throw new UploadFileSizeTooLargeError();
  if (!SOURCE_PATTERN.test(src)) throw new BadRequestError('src: must be 1-64 characters of [a-z0-9_-]');
  if (agentId !== agent._id) throw new AgentIdentityError();

  const action = await deps.store.actions.findForAgent(actionId, agent._id);
  if (!action) {
    throw new UploadActionForbiddenError(`action ${actionId} is not addressed to agent ${agent._id}`);
  }

  const start = nowOf(deps).getTime();
  // Extra fields are kept, as the reference keeps them, except names Elasticsearch reserves (`_id`, …).
  const extra = Object.fromEntries(Object.entries(body).filter(([key]) => !key.startsWith('_')));
  const doc: UploadMetaDoc = {
    ...extra,
    '@timestamp': start,
    upload_start: start,
    upload_id: randomUUID(),
    action_id: actionId,
    agent_id: agentId,
    src,
    namespaces: agent._source.namespaces ?? [],
    file: { ...file, name, mime_type: mimeType, size, ChunkSize: UPLOAD_CHUNK_SIZE, Status: 'AWAITING_UPLOAD' },
  };
  try {
    await deps.store.uploads.begin(doc);
  } catch (err) {
    if (!(err instanceof DocumentConflictError)) throw err;
    await restartUpload(deps, doc);
  }
  deps.logger.info({ 'fleet.agent.id': agent._id, 'fleet.action.id': actionId, upload_id: doc.upload_id, size }, 'upload begun');
  return { upload_id: doc.upload_id, chunk_size: UPLOAD_CHUNK_SIZE };
}

/**
 * The agent begins again an upload for the same action (a retried diagnostics action, a restart
 * mid-upload): an unfinished one is replaced (its chunks deleted, the old upload id forgotten); a
 * READY file is never overwritten.
 */
async function restartUpload(deps: UploadDeps, doc: UploadMetaDoc): Promise<void> {
  const existing = await deps.store.uploads.get(uploadFileId(doc.action_id, doc.agent_id));
  if (existing?.doc.file.Status === 'READY') {
    throw new UploadConflictError(`agent ${doc.agent_id} already uploaded a file for action ${doc.action_id}`);
  }
  if (existing) await deps.store.uploads.deleteChunks({ id: existing.id, src: existing.doc.src });
  await deps.store.uploads.replace(doc);
  deps.logger.info({ 'fleet.agent.id': doc.agent_id, 'fleet.action.id': doc.action_id, replaced: existing?.doc.upload_id }, 'unfinished upload begun again');
}

/** The upload the agent may still send chunks (or its end) to. */
async function ownUpload(deps: UploadDeps, agent: Hit<AgentDoc>, uploadId: string): Promise<UploadRecord> {
  const upload = await deps.store.uploads.findByUploadId(uploadId);
  if (!upload) throw new UploadNotFoundError();
  if (upload.doc.agent_id !== agent._id) throw new AgentIdentityError();
  return upload;
}

const expired = (deps: UploadDeps, upload: UploadRecord): boolean =>
  nowOf(deps).getTime() > upload.doc.upload_start + deps.config.expiryMs;

/** Checks a chunk may be sent, before its body is read. */
export async function prepareChunk(
  deps: UploadDeps,
  agent: Hit<AgentDoc>,
  uploadId: string,
  pos: number,
  sha2: string | undefined,
): Promise<UploadRecord> {
  if (!sha2 || !SHA256_HEX.test(sha2)) throw new BadRequestError('X-Chunk-SHA2 header must be the hex SHA-256 of the chunk');
  const upload = await ownUpload(deps, agent, uploadId);
  if (expired(deps, upload)) throw new UploadExpiredError();
  if (!UPLOADABLE.has(upload.doc.file.Status)) throw new UploadStoppedError();
  if (!Number.isInteger(pos) || pos < 0 || pos >= chunkCount(upload.doc)) throw new UploadInvalidChunkNumError();
  return upload;
}

/** Stores a chunk whose bytes hash to the declared SHA-256; on a mismatch nothing is kept at that position. */
export async function storeChunk(deps: UploadDeps, upload: UploadRecord, pos: number, sha2: string, data: Buffer): Promise<void> {
  const file = { id: upload.id, src: upload.doc.src };
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== sha2.toLowerCase()) {
    await deps.store.uploads.deleteChunk(file, pos);
    throw new UploadHashMismatchError();
  }
  await deps.store.uploads.putChunk(file, { pos, last: pos === chunkCount(upload.doc) - 1, sha2: actual, data });
}

/**
 * End (`POST /api/fleet/uploads/:id`): every chunk is there, in order, of the right size, each
 * hashing to its recorded digest, and the transit hash (SHA-256 over the raw chunk digests) matches.
 * Only then is the file READY; otherwise it is UPLOAD_ERROR and its chunks are deleted.
 */
export async function finishUpload(deps: UploadDeps, agent: Hit<AgentDoc>, uploadId: string, transithash: string): Promise<void> {
  const upload = await ownUpload(deps, agent, uploadId);
  if (!UPLOADABLE.has(upload.doc.file.Status)) throw new UploadClosedError();
  if (expired(deps, upload)) throw new UploadExpiredError();
  const file = { id: upload.id, src: upload.doc.src };
  const fail = async (err: Error): Promise<never> => {
    await deps.store.uploads.setStatus(upload.id, 'UPLOAD_ERROR');
    await deps.store.uploads.deleteChunks(file);
    deps.logger.warn({ 'fleet.agent.id': agent._id, upload_id: uploadId, reason: err.message }, 'upload failed validation');
    throw err;
  };

  const count = chunkCount(upload.doc);
  const chunks = await deps.store.uploads.listChunks(file);
  if (chunks.length !== count || chunks.some((c, i) => c.pos !== i)) return fail(new UploadMissingChunksError());
  if (chunks.some((c, i) => c.last !== (i === count - 1))) return fail(new UploadFailValidationError());

  const chunkSize = upload.doc.file.ChunkSize;
  const transit = createHash('sha256');
  let total = 0;
  let seen = 0;
  for await (const chunk of deps.store.uploads.readChunks(file)) {
    const last = chunk.pos === count - 1;
    const sizeOk = last ? chunk.data.length > 0 && chunk.data.length <= chunkSize : chunk.data.length === chunkSize;
    const digest = createHash('sha256').update(chunk.data).digest('hex');
    if (chunk.pos !== seen || !sizeOk || digest !== chunk.sha2.toLowerCase()) return fail(new UploadFailValidationError());
    transit.update(Buffer.from(chunk.sha2, 'hex'));
    total += chunk.data.length;
    seen++;
  }
  if (seen !== count || total !== upload.doc.file.size) return fail(new UploadFailValidationError());
  const computed = transit.digest('hex');
  if (computed !== transithash.trim().toLowerCase()) return fail(new UploadFailValidationError());

  await deps.store.uploads.setStatus(upload.id, 'READY', computed);
  deps.logger.info({ 'fleet.agent.id': agent._id, upload_id: uploadId, size: total }, 'upload complete');
}
