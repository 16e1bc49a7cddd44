import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from './errors';

export interface BodyLimits {
  /** Bytes accepted on the wire (0: no limit). */
  maxBytes: number;
  /** Bytes accepted after `Content-Encoding: gzip` is undone (gzip-bomb guard). */
  maxDecompressedBytes: number;
}

/**
 * Reads a request body under hard limits, before anything parses it: a declared Content-Length over
 * the limit is refused without reading; a stream that grows past it is cut off; gzip bodies are
 * inflated with a cap on the output size.
 */
export async function readBody(req: IncomingMessage, configured: BodyLimits): Promise<Buffer> {
  // As in the reference, a limit of 0 switches that check off.
  const limits = {
    maxBytes: configured.maxBytes || Number.POSITIVE_INFINITY,
    maxDecompressedBytes: configured.maxDecompressedBytes || Number.POSITIVE_INFINITY,
  };
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes) {
    req.resume();
    throw new PayloadTooLargeError(limits.maxBytes);
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  if (encoding !== 'identity' && encoding !== 'gzip') {
    req.resume();
    throw new UnsupportedMediaTypeError(`unsupported content-encoding: ${encoding}`);
  }
  const raw = await collect(req, limits.maxBytes, () => new PayloadTooLargeError(limits.maxBytes));
  if (encoding === 'identity') return raw;
  return inflate(raw, limits.maxDecompressedBytes);
}

function collect(stream: NodeJS.ReadableStream, max: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      stream.removeListener('data', onData);
      if (err) {
        stream.resume();
        reject(err);
      } else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) finish(tooLarge());
      else chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => finish());
    stream.once('error', (err: Error) => finish(new BadRequestError(`cannot read request body: ${err.message}`)));
  });
}

function inflate(raw: Buffer, max: number): Promise<Buffer> {
  const gunzip = createGunzip();
  const result = collect(gunzip, max, () => new PayloadTooLargeError(max)).finally(() => gunzip.destroy());
  gunzip.on('error', () => undefined);
  gunzip.end(raw);
  return result.catch((err: unknown) => {
    if (err instanceof PayloadTooLargeError) throw err;
    throw new BadRequestError('request body is not valid gzip');
  });
}

/**
 * How deep a request body may nest objects and arrays. Go's encoding/json (the reference) stops at
 * 10,000; this is far lower on purpose: no agent or management body needs more than a few dozen
 * levels, while a document nested thousands deep overflows the stack of every recursive reader
 * downstream (serializers, the store's JSON functions) long after it was accepted.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether `text` nests objects and arrays deeper than `limit`, counted over the characters before
 * anything parses them: one linear pass that stops as soon as the limit is passed, no allocation.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return false;
}

/** The index of the quote closing the string opened at `open` (or the end): skipped by search, not by character. */
function stringEnd(text: string, open: number): number {
  let close = text.indexOf('"', open + 1);
  while (close !== -1) {
    let backslashes = 0;
    while (text.charCodeAt(close - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return close;
    close = text.indexOf('"', close + 1);
  }
  return text.length;
}

/**
 * Parses a JSON object body; anything else is a `BadRequestError`. The nesting is bounded
 * (`maxDepth`, default `MAX_JSON_DEPTH`) before parsing.
 */
export function parseJsonObject(raw: Buffer, maxDepth = MAX_JSON_DEPTH): Record<string, unknown> {
  if (raw.length === 0) throw new BadRequestError('request body is empty');
  const text = raw.toString('utf8');
  if (jsonDepthExceeds(text, maxDepth)) throw new BadRequestError(`request body is nested deeper than ${maxDepth} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestError('request body is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new BadRequestError('request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
