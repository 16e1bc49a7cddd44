import { createWriteStream } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { Connection } from './connection';
import { ApiError, CliError } from './errors';

/** Largest JSON answer read (a page of 10,000 agents fits). */
const MAX_JSON = 64 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 60_000;

export interface HttpAnswer {
  status: number;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Opens a request to the server with the token and CA; answers the response once its head arrives. */
export function openRequest(conn: Connection, method: string, path: string, opts: RequestOptions & { timeoutMs?: number } = {}): Promise<IncomingMessage> {
  const url = new URL(path, conn.url);
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const headers: Record<string, string> = {
    Authorization: `Bearer ${conn.token}`,
    Accept: 'application/json',
    'User-Agent': 'fleetctl',
    ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}),
    ...opts.headers,
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method, headers, ...(conn.ca !== undefined ? { ca: conn.ca } : {}) }, resolve);
    req.setTimeout(opts.timeoutMs ?? REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${(opts.timeoutMs ?? REQUEST_TIMEOUT_MS) / 1000} s`)));
    req.once('error', (err) => reject(new CliError(`${method} ${url.pathname}: ${err.message}`)));
    req.end(payload);
  });
}

async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON) {
      res.destroy();
      throw new CliError(`answer larger than ${MAX_JSON} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** JSON, or the text itself when it is not JSON (kept for an error message). */
function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The API's error answer as an ApiError (`{statusCode, error, message}`), whatever the body was. */
export function apiErrorOf(status: number, body: unknown, fallback: string): ApiError {
  const b = (body && typeof body === 'object' ? body : {}) as { statusCode?: unknown; error?: unknown; message?: unknown };
  return new ApiError(
    typeof b.statusCode === 'number' ? b.statusCode : status,
    typeof b.error === 'string' ? b.error : fallback,
    typeof b.message === 'string' ? b.message : typeof body === 'string' && body ? body.slice(0, 500) : fallback,
  );
}

/** A JSON request; an ApiError for any answer that is not 2xx. */
export async function requestJson(conn: Connection, method: string, path: string, opts: RequestOptions = {}): Promise<HttpAnswer> {
  const res = await openRequest(conn, method, path, opts);
  const text = await readBody(res);
  const body = text ? parseOrText(text) : {};
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) throw apiErrorOf(status, body, res.statusMessage ?? 'Error');
  if (typeof body === 'string') throw new CliError(`${method} ${path}: the answer is not JSON`);
  return { status, headers: res.headers, body };
}

/** Downloads `path` into `file` (a stream, never all in memory). */
export async function downloadTo(conn: Connection, path: string, file: string): Promise<number> {
  const res = await openRequest(conn, 'GET', path, { headers: { Accept: 'application/octet-stream' } });
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    throw apiErrorOf(status, parseOrText(await readBody(res)), res.statusMessage ?? 'Error');
  }
  let bytes = 0;
  res.on('data', (c: Buffer) => (bytes += c.length));
  await pipeline(res, createWriteStream(file, { mode: 0o600 }));
  return bytes;
}

/**
 * Follows a server-sent-events stream: calls `onEvent` with each event's parsed data until it
 * answers true (done), the stream ends, or `deadline` passes. Answers whether `onEvent` said done.
 */
export async function followEvents(conn: Connection, path: string, deadline: number, onEvent: (data: unknown) => boolean): Promise<boolean> {
  const res = await openRequest(conn, 'GET', path, { headers: { Accept: 'text/event-stream' }, timeoutMs: Math.max(1000, deadline - Date.now()) });
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) throw apiErrorOf(status, parseOrText(await readBody(res)), res.statusMessage ?? 'Error');
  const timer = setTimeout(() => res.destroy(), Math.max(0, deadline - Date.now()));
  let buffer = '';
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      buffer += chunk.toString('utf8');
      if (buffer.length > MAX_JSON) throw new CliError('event stream: an event larger than the limit');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (data && onEvent(JSON.parse(data))) return true;
      }
    }
    return false;
  } catch (err) {
    if (Date.now() >= deadline) return false;
    throw err;
  } finally {
    clearTimeout(timer);
    res.destroy();
  }
}
