import { InputError, parseJsonObject, readBody } from '@fleet/service-kit';
import { IF_MATCH_PATTERN } from '@fleet/management-api';
import type { Request } from 'express';

/**
 * Reads a management-API JSON body, bounded before it is parsed; an empty body is `{}` when the
 * route allows none. A malformed body is an `InputError` (400 "Bad Request").
 */
export async function readJsonInput(req: Request, maxBytes: number, optional = false): Promise<Record<string, unknown>> {
  const raw = await readBody(req, { maxBytes, maxDecompressedBytes: maxBytes * 4 });
  if (optional && raw.length === 0) return {};
  try {
    return parseJsonObject(raw);
  } catch (err) {
    throw new InputError(err instanceof Error ? err.message : 'invalid body');
  }
}

/** A path parameter of at most `maxLength` characters, or an `InputError`. */
export function pathParam(req: Request, name: string, maxLength = 256): string {
  const v = req.params[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) throw new InputError(`invalid ${name}`);
  return v;
}

/**
 * The revision an `If-Match: "<revision>"` header names (the `ETag` of a read), undefined without
 * one or for `*`. Anything else is an `InputError`.
 */
export function ifMatchRevision(req: Request): number | undefined {
  const raw = req.headers['if-match'];
  if (raw === undefined) return undefined;
  const m = IF_MATCH_PATTERN.exec(raw);
  if (!m) throw new InputError('If-Match: must be a revision in quotes, as the ETag of a read ("3")');
  return m[1] === undefined ? undefined : Number(m[1]);
}
