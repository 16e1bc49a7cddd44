import {
  ClientFileForbiddenError,
  FileForDeliveryNotFoundError,
  FileIncompleteError,
  MultipartRangeNotSupportedError,
  RangeNotSatisfiableError,
} from '@fleet/service-kit';
import { DEFAULT_FILE_CHUNK_SIZE, sanitizeFileIndexInput, type DeliveryChunkInfo, type DeliveryFile, type FleetStore } from '@fleet/store';

/**
 * Integrations allowed to read their own file libraries (`?source=`), by the `X-elastic-product-origin`
 * header they send: elastic/fleet-server's allow-list (it keeps arbitrary indices unreadable).
 */
const PRODUCT_ORIGIN_FILE_USERS: ReadonlyMap<string, string> = new Map([['endpoint-security', 'endpoint']]);

/**
 * The file `fileId` for this agent: an agent-targeted READY file, or with `source`, a file of the
 * library of the integration named by the product-origin header.
 */
export async function locateFile(
  store: FleetStore,
  request: { agentId: string; fileId: string; source: string | undefined; productOrigin: string | undefined },
): Promise<DeliveryFile> {
  const library = sanitizeFileIndexInput(request.source ?? '');
  let file: DeliveryFile | undefined;
  if (library) {
    const integration = PRODUCT_ORIGIN_FILE_USERS.get(sanitizeFileIndexInput(request.productOrigin ?? ''));
    if (!integration) throw new ClientFileForbiddenError();
    file = await store.deliveryFiles.findInLibrary(request.fileId, integration, library);
  } else {
    file = await store.deliveryFiles.findForAgent(request.fileId, request.agentId);
  }
  if (!file) throw new FileForDeliveryNotFoundError();
  return file;
}

/** A file whose stored chunks were checked to make up exactly `size` bytes. */
export interface FilePlan {
  file: DeliveryFile;
  size: number;
  chunkSize: number;
  /** Chunk `i` holds bytes [i × chunkSize, min(size, (i + 1) × chunkSize)). */
  chunks: DeliveryChunkInfo[];
}

/** Bytes chunk `index` must hold. */
export const chunkLength = (plan: FilePlan, index: number): number => Math.min(plan.chunkSize, plan.size - index * plan.chunkSize);

/**
 * Lists the file's chunks and checks, before anything is sent, that they make up the whole file:
 * one chunk per position 0..n-1 for n = ceil(size / chunkSize), none but the final one marked last,
 * and each of the expected length where the backend reports lengths. Anything else is
 * `FileIncompleteError` (a missing chunk is never served as a shorter file).
 */
export async function planDelivery(store: FleetStore, file: DeliveryFile): Promise<FilePlan> {
  const { size, ChunkSize } = file.meta.file;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new FileIncompleteError(`file ${file.id} has no valid size in its metadata`);
  }
  const chunkSize = typeof ChunkSize === 'number' && Number.isSafeInteger(ChunkSize) && ChunkSize > 0 ? ChunkSize : DEFAULT_FILE_CHUNK_SIZE;
  const chunks = await store.deliveryFiles.listChunks(file);
  // As the reference: a file without any stored data is not found.
  if (chunks.length === 0) throw new FileForDeliveryNotFoundError();
  const plan: FilePlan = { file, size, chunkSize, chunks };
  const problem = layoutProblem(plan);
  if (problem) {
    throw new FileIncompleteError(`stored chunks of file ${file.id} do not make up its ${size} bytes: ${problem}`);
  }
  return plan;
}

function layoutProblem(plan: FilePlan): string | undefined {
  const expected = Math.ceil(plan.size / plan.chunkSize);
  for (let i = 0; i < Math.min(expected, plan.chunks.length); i++) {
    const chunk = plan.chunks[i];
    if (chunk?.pos !== i) return `chunk ${i} missing`;
    if (chunk.last && i < expected - 1) return `chunk ${i} is marked last`;
    if (chunk.size !== undefined && chunk.size !== chunkLength(plan, i)) return `chunk ${i} holds ${chunk.size} bytes, ${chunkLength(plan, i)} expected`;
  }
  if (plan.chunks.length !== expected) return `${plan.chunks.length} chunks stored, ${expected} expected`;
  return undefined;
}

/** An inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * One `Range: bytes=...` range (RFC 9110): `a-b`, `a-` or the suffix `-n`, clamped to the file.
 * Several ranges are refused (`MultipartRangeNotSupportedError`), as are malformed or
 * non-overlapping ones (`RangeNotSatisfiableError`). No header: undefined (the whole file).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined || header === '') return undefined;
  const invalid = (why: string) => new RangeNotSatisfiableError(`range not satisfiable: ${why}`);
  if (!header.startsWith('bytes=')) throw invalid('only byte ranges are supported');
  const specs = header
    .slice('bytes='.length)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (specs.length > 1) throw new MultipartRangeNotSupportedError('Multipart ranges not satisfiable');
  const spec = specs[0];
  const dash = spec?.indexOf('-') ?? -1;
  if (spec === undefined || dash < 0) throw invalid('malformed range');
  const first = spec.slice(0, dash).trim();
  const last = spec.slice(dash + 1).trim();
  const digits = /^\d{1,15}$/;
  if (first === '') {
    if (!digits.test(last) || Number(last) === 0 || size === 0) throw invalid('malformed or empty suffix range');
    return { start: Math.max(0, size - Number(last)), end: size - 1 };
  }
  if (!digits.test(first) || (last !== '' && !digits.test(last))) throw invalid('malformed range');
  const start = Number(first);
  if (start >= size) throw invalid('range starts after the end of the file');
  const end = last === '' ? size - 1 : Number(last);
  if (end < start) throw invalid('range ends before it starts');
  return { start, end: Math.min(end, size - 1) };
}

/** The bytes of chunk `index` to send for `range`. */
export function chunkSlice(plan: FilePlan, index: number, bytes: Buffer, range: ByteRange): Buffer {
  const offset = index * plan.chunkSize;
  return bytes.subarray(Math.max(0, range.start - offset), Math.min(bytes.length, range.end - offset + 1));
}

/** Reads chunk `index` and checks it holds exactly the bytes the plan expects. */
export async function readPlannedChunk(store: FleetStore, plan: FilePlan, index: number): Promise<Buffer> {
  const chunk = plan.chunks[index];
  const bytes = chunk ? await store.deliveryFiles.readChunk(chunk) : undefined;
  if (!bytes) throw new FileIncompleteError(`chunk ${index} of file ${plan.file.id} is gone`);
  if (bytes.length !== chunkLength(plan, index)) {
    throw new FileIncompleteError(`chunk ${index} of file ${plan.file.id} holds ${bytes.length} bytes, ${chunkLength(plan, index)} expected`);
  }
  return bytes;
}
