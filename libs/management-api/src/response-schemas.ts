import { z } from 'zod';
import { MANAGEMENT_ROLES } from './management-key-schemas';
import { jsonObject } from './common-schemas';

/**
 * What the management API answers, beyond the items the resource files declare. Open documents
 * (an agent, a policy) are loose objects; the fields declared are exact.
 */

/** The agent-facing policy (`GET /agent_policies/{id}/full`, a revision's `data`). */
export const fullAgentPolicy = z.looseObject({
  id: z.string(),
  revision: z.number().int(),
  outputs: z.record(z.string(), jsonObject),
  inputs: z.array(jsonObject),
  output_permissions: z.record(z.string(), jsonObject).optional(),
  agent: jsonObject.optional(),
  fleet: jsonObject.optional(),
});

/** `DELETE /agent_policies/{id}`, `POST /agent_policies/delete`. */
export const agentPolicyDeleted = z.object({ id: z.string(), name: z.string() });

/** One `.fleet-policies` revision of a policy, as the revisions list shows it. */
export const policyRevisionSummary = z.object({ revision_idx: z.number().int(), created_at: z.string(), coordinator_idx: z.number().int() });

/** An action written for one agent (`POST /agents/{id}/actions`); secrets in `data` are redacted. */
export const agentActionItem = z.object({
  id: z.string(),
  type: z.string(),
  data: z.unknown().optional(),
  agents: z.array(z.string()),
  created_at: z.string(),
  expiration: z.string().optional(),
  sent_at: z.string(),
});

/** `{}`: what the per-agent unenroll, reassign and upgrade answer (as Kibana). */
export const emptyAnswer = z.object({}).strict();

/** A bulk call's answer: the action written, and the agents left alone with why. */
export const bulkAnswer = z.object({
  actionId: z.string(),
  skipped: z.array(z.object({ id: z.string(), reason: z.string() })).optional(),
});

/** `GET /agent_status`: agents counted by status (one count per status), in Kibana's shape. */
export const agentStatusSummary = z.object({
  online: z.number().int(),
  offline: z.number().int(),
  inactive: z.number().int(),
  error: z.number().int(),
  updating: z.number().int(),
  other: z.number().int(),
  events: z.literal(0),
  total: z.number().int(),
  all: z.number().int(),
  active: z.number().int(),
}).catchall(z.number().int());

/** One sample of the status history: when, and agents counted by status (a count per status). */
export const statusSample = z.object({ timestamp: z.string() }).catchall(z.number().int());

export const gatewayLoad = z.object({
  replica_id: z.string(),
  checkins_per_second: z.number(),
  open_long_polls: z.number(),
  reported_at: z.string(),
});

export const consoleMetrics = z.object({
  checkins_per_second: z.number(),
  open_long_polls: z.number().int(),
  replicas: z.array(gatewayLoad),
  sampled_at: z.string(),
});

export const actionHistoryItem = z.object({
  action_id: z.string(),
  type: z.string(),
  created_at: z.string(),
  expiration: z.string().optional(),
  user_id: z.string().optional(),
  data: z.unknown().optional(),
  status: z.enum(['pending', 'acknowledged', 'failed', 'expired']),
  acknowledged_at: z.string().optional(),
  error: z.string().optional(),
});

/** One diagnostics upload of an agent (Kibana's AgentDiagnostics). */
export const agentUploadItem = z.object({
  id: z.string(),
  name: z.string(),
  filePath: z.string(),
  createTime: z.string(),
  status: z.enum(['READY', 'AWAITING_UPLOAD', 'IN_PROGRESS', 'FAILED', 'EXPIRED', 'DELETED']),
  actionId: z.string(),
  error: z.string().optional(),
});

/** Where a policy revision or an action stands across its agents. */
export const rolloutSnapshot = z.object({
  kind: z.enum(['policy', 'action']),
  policy_id: z.string().optional(),
  revision: z.number().int().optional(),
  action_id: z.string().optional(),
  action_type: z.string().optional(),
  started_at: z.string(),
  sampled_at: z.string(),
  targeted: z.number().int(),
  delivered: z.number().int(),
  acknowledged: z.number().int(),
  failed: z.number().int(),
  complete: z.boolean(),
  behind: z.array(
    z.object({
      agent_id: z.string(),
      hostname: z.string().optional(),
      status: z.string(),
      reason: z.enum(['offline', 'error', 'pending']),
      error: z.string().optional(),
      acked_revision: z.number().int().optional(),
      last_checkin: z.string().optional(),
    }),
  ),
  behind_total: z.number().int(),
});

/** A management key as the API shows it: never its hash; its token only in the answer to its creation. */
export const managementKeyItem = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(MANAGEMENT_ROLES),
  created_at: z.string(),
  created_by: z.string(),
  revoked_at: z.string().optional(),
  revoked_by: z.string().optional(),
});
export const managementKeyCreated = managementKeyItem.extend({ api_key: z.string() });

/** One record of the audit trail. */
export const auditRecordItem = z.looseObject({
  id: z.string(),
  '@timestamp': z.string(),
  actor: z.looseObject({ kind: z.enum(['management-key', 'bootstrap']), id: z.string().optional(), name: z.string(), role: z.enum(MANAGEMENT_ROLES) }),
  request: z.looseObject({ method: z.string(), route: z.string(), id: z.string() }),
  target: jsonObject,
  action_type: z.string().optional(),
  client: z.looseObject({ address: z.string() }),
  outcome: z.looseObject({ status_code: z.number().int(), aborted: z.literal(true).optional() }),
});

/** The console's session as it is told of it (never the cookie). */
export const consoleSessionItem = z.object({
  role: z.enum(MANAGEMENT_ROLES),
  name: z.string(),
  expires_at: z.string(),
  csrf_token: z.string(),
});
