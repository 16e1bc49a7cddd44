import { z } from 'zod';
import { isoDate } from './common-schemas';

/** `POST /enrollment_api_keys`. */
export const enrollmentKeyCreateBody = z.object({ policy_id: z.string().min(1), name: z.string().max(256).optional(), expiration: isoDate.optional() }).strict();
export type EnrollmentKeyCreateInput = z.output<typeof enrollmentKeyCreateBody>;

/** An enrollment key as the API answers it; `api_key` (the token) only in the answer to its creation. */
export const enrollmentKeyItem = z.object({
  id: z.string(),
  api_key_id: z.string(),
  api_key: z.string().optional(),
  name: z.string(),
  active: z.boolean(),
  policy_id: z.string(),
  created_at: z.string(),
  expire_at: z.string().optional(),
});
export type EnrollmentKeyItem = z.output<typeof enrollmentKeyItem>;
