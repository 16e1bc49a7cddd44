import type { z } from 'zod';
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
