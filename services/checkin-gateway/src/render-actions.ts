import { DELIVERABLE_ACTION_TYPES, policyActionId, type AgentAction, type JsonValue } from '@fleet/agent-protocol';
import type { ActionDoc, Hit } from '@fleet/store';
import type { PreparedPolicy } from './policy-cache';

const DELIVERABLE = new Set<string>(DELIVERABLE_ACTION_TYPES);

export const isDeliverable = (doc: ActionDoc): boolean => DELIVERABLE.has(doc.type);

type Obj = Record<string, JsonValue>;
const asObject = (v: JsonValue | undefined): Obj | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;

function pick(source: Obj | undefined, keys: readonly string[]): Obj {
  const out: Obj = {};
  if (!source) return out;
  for (const k of keys) if (source[k] !== undefined) out[k] = source[k];
  return out;
}

/** Re-encodes `data` per action type as the reference does: unknown keys are dropped. */
export function actionData(type: string, data: JsonValue | undefined): JsonValue {
  const obj = asObject(data);
  switch (type) {
    case 'UPGRADE':
      return pick(obj, ['version', 'source_uri', 'rollback']);
    case 'POLICY_REASSIGN':
      return pick(obj, ['policy_id']);
    case 'SETTINGS':
      return pick(obj, ['log_level']);
    case 'CANCEL':
      return pick(obj, ['target_id']);
    case 'REQUEST_DIAGNOSTICS':
      return obj ? pick(obj, ['additional_metrics', 'exclude_events_log']) : (undefined as unknown as JsonValue);
    case 'MIGRATE':
      return pick(obj, ['target_uri', 'enrollment_token', 'settings']);
    case 'PRIVILEGE_LEVEL_CHANGE':
      return pick(obj, ['unprivileged', 'user_info']);
    case 'UNENROLL':
      return null;
    default:
      return data ?? null;
  }
}

/**
 * The start time an agent gets for a staged rollout: agent i of N starts at
 * `start_time + rollout_duration_seconds * i / N`. Applied on every delivery path, so an agent
 * gets the same start time whichever path delivers the action.
 */
export function rolloutStartTime(doc: ActionDoc, agentId: string): string | undefined {
  if (!doc.start_time) return undefined;
  if (!doc.rollout_duration_seconds || !doc.agents?.length) return doc.start_time;
  const index = doc.agents.indexOf(agentId);
  const start = Date.parse(doc.start_time);
  if (index < 0 || Number.isNaN(start)) return doc.start_time;
  const offsetMs = Math.floor((doc.rollout_duration_seconds * 1000 * index) / doc.agents.length);
  return new Date(start + offsetMs).toISOString();
}

export function renderAction(hit: Hit<ActionDoc>, agentId: string): AgentAction {
  const doc = hit._source;
  const action: AgentAction = {
    id: doc.action_id,
    agent_id: agentId,
    created_at: doc['@timestamp'],
    type: doc.type as AgentAction['type'],
    input_type: doc.input_type ?? '',
    data: actionData(doc.type, doc.data),
  };
  const start = rolloutStartTime(doc, agentId);
  if (start) action.start_time = start;
  if (doc.expiration) action.expiration = doc.expiration;
  if (doc.timeout) action.timeout = doc.timeout;
  if (doc.traceparent) action.traceparent = doc.traceparent;
  if (doc.signed) action.signed = doc.signed;
  return action;
}


/**
 * Serializes a checkin response. The policy body was serialized once per revision and is spliced
 * in as is; only the small per-agent envelope is built per request.
 */
export function serializeCheckinResponse(
  agentId: string,
  ackToken: string,
  policy: PreparedPolicy | undefined,
  actions: AgentAction[],
  policyDataJson?: string,
): string {
  const parts: string[] = [];
  if (policy) {
    parts.push(
      `{"id":${JSON.stringify(policyActionId(policy.policyId, policy.revision))},"agent_id":${JSON.stringify(agentId)},` +
        `"created_at":${JSON.stringify(policy.createdAt)},"type":"POLICY_CHANGE","input_type":"","data":${policyDataJson ?? policy.dataJson}}`,
    );
  }
  for (const a of actions) parts.push(JSON.stringify(a));
  const actionsPart = parts.length ? `,"actions":[${parts.join(',')}]` : '';
  return `{"ack_token":${JSON.stringify(ackToken)},"action":"checkin"${actionsPart}}`;
}
