import { z } from 'zod';

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * Any JSON object. Bodies reach the schemas parsed from JSON (or, in fleetctl, from YAML's core
 * schema), so the values are JSON already: the type says so without walking them again.
 */
export const jsonObject = z.record(z.string(), z.unknown()) as unknown as z.ZodType<JsonObject>;

/** A date-time string the API accepts: anything `Date.parse` reads (ISO 8601 in practice). */
export const isoDate = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO 8601 date');

/** The paging and filtering query of the list routes (Kibana's names). */
export const pageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  perPage: z.coerce.number().int().min(1).max(10_000).default(20),
  kuery: z.string().optional(),
  showInactive: z.enum(['true', 'false']).optional(),
  withAgentCount: z.string().optional(),
  full: z.string().optional(),
  sortField: z.string().optional(),
  sortOrder: z.string().optional(),
  showUpgradeable: z.string().optional(),
});
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
