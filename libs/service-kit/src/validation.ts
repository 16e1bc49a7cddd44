import { z } from 'zod';
import { BadRequestError, InputError } from './errors';

function describe(issues: z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}

/** Validates an agent-API body; failures are `BadRequestError` naming the offending fields. */
export function validateAgentBody<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new BadRequestError(describe(result.error.issues));
  return result.data;
}

/** Validates a management-API input; failures are `InputError` (400 "Bad Request"). */
export function validateInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new InputError(describe(result.error.issues));
  return result.data;
}

/** Agent ids end up in URLs and document ids: a safe alphabet, 1-128 characters. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/**
 * An agent's `local_metadata`: any JSON object, except that `elastic`, `host` and `os`, which the
 * indices map as objects, must be objects (a string there would make every later write of the
 * agent's document fail).
 */
export const localMetadataSchema = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  for (const key of ['elastic', 'host', 'os']) {
    const v = value[key];
    if (v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v))) {
      ctx.addIssue({ code: 'custom', path: [key], message: 'must be an object' });
    }
  }
});

/**
 * An optional field read as Go's encoding/json reads the reference's request structs: `null` is
 * the field's absence (Go leaves the zero value), so it is dropped before validation.
 */
export function goOptional<S extends z.ZodType>(schema: S) {
  return z.preprocess((v) => (v === null ? undefined : v), schema.optional());
}

/**
 * An optional identifier the reference treats as absent when empty (`*string` fields it tests with
 * `!= nil && != ""`): `null` and `""` are both dropped. A stock agent sends `"id": ""` and
 * `"replace_token": ""` when none was given.
 */
export function goOptionalId<S extends z.ZodType>(schema: S) {
  return z.preprocess((v) => (v === null || v === '' ? undefined : v), schema.optional());
}

/** A string Go reads into a plain `string`: missing or `null` is `""`. */
export function goString(max: number) {
  return z.preprocess((v) => (v === null || v === undefined ? '' : v), z.string().max(max));
}
