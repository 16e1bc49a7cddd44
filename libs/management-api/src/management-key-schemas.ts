import { z } from 'zod';

/**
 * The roles a management API key (or console session) can hold, weakest first:
 * - `read-only`: every read of the management API, including the audit trail and the key list.
 * - `operator`: reads, plus what acts on agents: actions, reassign, upgrade, unenroll, diagnostics.
 * - `admin`: everything: agent policies, enrollment tokens and management keys too.
 */
export const MANAGEMENT_ROLES = ['read-only', 'operator', 'admin'] as const;
export type ManagementRole = (typeof MANAGEMENT_ROLES)[number];

export const managementKeyCreateBody = z.object({ name: z.string().trim().min(1).max(256), role: z.enum(MANAGEMENT_ROLES) }).strict();
export type ManagementKeyCreateInput = z.input<typeof managementKeyCreateBody>;
