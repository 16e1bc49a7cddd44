import { z } from 'zod';

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * Any JSON object. Bodies reach the schemas parsed from JSON (or, in fleetctl, from YAML's core
 * schema), so the values are JSON already: the type says so without walking them again.
 */
export const jsonObject = z.record(z.string(), z.unknown()) as unknown as z.ZodType<JsonObject>;

/**
 * A date-time string the API accepts: anything `Date.parse` reads (ISO 8601 in practice). The
 * document says `date-time`, what a client should send.
 */
export const isoDate = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO 8601 date')
  .meta({ format: 'date-time' });

/** `If-Match`: a revision in quotes (the `ETag` of a read), optionally weak, or `*`. */
export const IF_MATCH_PATTERN = /^\s*(?:\*|(?:W\/)?"(\d{1,9})")\s*$/;

/** How deep a listing may page: `page * perPage` at most this (Elasticsearch's result window). */
export const MAX_RESULT_WINDOW = 10_000;

/** A paging query reaches no further than the result window (both backends answer the same). */
export function withinResultWindow<S extends z.ZodType<{ page: number; perPage: number }>>(schema: S) {
  return schema.refine((q) => q.page * q.perPage <= MAX_RESULT_WINDOW, { message: `page * perPage must be at most ${MAX_RESULT_WINDOW}`, path: ['page'] });
}

/** The paging and filtering fields of the list routes (Kibana's names). */
export const pageFields = z.object({
  page: z.coerce.number().int().min(1).default(1).describe(`page * perPage must be at most ${MAX_RESULT_WINDOW}`),
  perPage: z.coerce.number().int().min(1).max(MAX_RESULT_WINDOW).default(20),
  kuery: z.string().optional(),
  showInactive: z.enum(['true', 'false']).optional(),
  withAgentCount: z.string().optional(),
  full: z.string().optional(),
  sortField: z.string().optional(),
  sortOrder: z.string().optional(),
  showUpgradeable: z.string().optional(),
});

/** The query of the list routes: the paging fields, within the result window. */
export const pageQuery = withinResultWindow(pageFields);
export type PageQuery = z.output<typeof pageQuery>;

/** Every error answer: `{statusCode, error, message}`. */
export const errorBody = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
});
export type ErrorBody = z.output<typeof errorBody>;

/** A page of a list route. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), total: z.number().int().min(0), page: z.number().int().min(1), perPage: z.number().int().min(1) });
}
