import { DELIVERABLE_ACTION_TYPES } from '@fleet/agent-protocol';
import { z } from 'zod';
import { isoDate, jsonObject } from './common-schemas';

/** Agents one bulk call may name by id. */
export const MAX_BULK_AGENTS = 10_000;
/** Tags one agent may carry, and the length of one. */
export const MAX_AGENT_TAGS = 100;
export const MAX_TAG_LENGTH = 256;

const tag = z.string().trim().min(1).max(MAX_TAG_LENGTH);
const tags = z.array(tag).max(MAX_AGENT_TAGS);
/** `agents` of a bulk call: ids, or a kuery (the subset the server parses), as in Kibana. */
export const bulkAgentsField = z.union([z.array(z.string().min(1).max(256)).min(1).max(MAX_BULK_AGENTS), z.string().trim().min(1).max(2048)]);
const batchSize = z.number().int().min(1).optional();

/** `POST /agents/{id}/actions`. */
export const agentActionBody = z
  .object({
    action: z
      .object({
        type: z.enum(DELIVERABLE_ACTION_TYPES),
        data: z.unknown().optional(),
        ack_data: z.unknown().optional(),
        sent_at: z.string().optional(),
        start_time: isoDate.optional(),
        expiration: isoDate.optional(),
        rollout_duration_seconds: z.number().int().min(0).optional(),
      })
      .strict(),
  })
  .strict();

/** `POST /agents/{id}/unenroll`. */
export const agentUnenrollBody = z.object({ revoke: z.boolean().optional(), force: z.boolean().optional() }).strict();
/** `POST /agents/{id}/reassign`. */
export const agentReassignBody = z.object({ policy_id: z.string().min(1) }).strict();

const upgradeFields = {
  version: z.string().min(1).max(64),
  source_uri: z.string().url().optional(),
  force: z.boolean().optional(),
  skipRateLimitCheck: z.boolean().optional(),
  start_time: isoDate.optional(),
  rollout_duration_seconds: z.number().int().min(0).optional(),
};
/** `POST /agents/{id}/upgrade`. */
export const agentUpgradeBody = z.object(upgradeFields).strict();
export type AgentUpgradeInput = z.output<typeof agentUpgradeBody>;

/** `PUT /agents/{id}`. */
export const agentUpdateBody = z.object({ tags, user_provided_metadata: z.unknown().optional() }).partial().strict();

/** `POST /agents/bulk_reassign`. */
export const bulkReassignBody = z.object({ agents: bulkAgentsField, policy_id: z.string().min(1).max(256), batchSize }).strict();
/** `POST /agents/bulk_unenroll`. */
export const bulkUnenrollBody = z
  .object({ agents: bulkAgentsField, revoke: z.boolean().optional(), force: z.boolean().optional(), batchSize, includeInactive: z.boolean().optional() })
  .strict();
/** `POST /agents/bulk_upgrade`. */
export const bulkUpgradeBody = z.object({ agents: bulkAgentsField, ...upgradeFields, batchSize }).strict();
/** `POST /agents/bulk_update_agent_tags`. */
export const bulkTagsBody = z
  .object({ agents: bulkAgentsField, tagsToAdd: tags.optional(), tagsToRemove: tags.optional(), batchSize })
  .strict()
  .refine((b) => (b.tagsToAdd?.length ?? 0) + (b.tagsToRemove?.length ?? 0) > 0, 'tagsToAdd or tagsToRemove must name a tag');
export type BulkTagsInput = z.output<typeof bulkTagsBody>;


/** An agent as the API answers it (the `.fleet-agents` document, its derived status and id). */
export const agentItem = z.looseObject({
  id: z.string(),
  status: z.string(),
  active: z.boolean(),
  policy_id: z.string().optional(),
  policy_revision: z.number().int().nullable(),
  tags: z.array(z.string()).optional(),
  enrolled_at: z.string().optional(),
  last_checkin: z.string().optional(),
  last_checkin_status: z.string().optional(),
  agent: z.looseObject({ id: z.string().optional(), version: z.string().optional() }).optional(),
  local_metadata: jsonObject.optional(),
});
export type AgentItem = z.output<typeof agentItem>;

/** Fields the agent list sorts on (keyword or date in the `.fleet-agents` mapping). */
export const AGENT_SORT_FIELDS = [
  'enrolled_at',
  'last_checkin',
  'local_metadata.host.hostname',
  'local_metadata.elastic.agent.version',
  'policy_id',
] as const;
