import type { CheckinComponent, CheckinRequest } from '@fleet/agent-protocol';
import { goOptional, goString, localMetadataSchema, validateAgentBody } from '@fleet/service-kit';
import { z } from 'zod';

/*
 * A checkin body is read as the reference reads it (Go's encoding/json into its request structs):
 * `null` is a field's absence, a missing `message` is "", unknown fields are ignored. Kept stricter
 * on purpose, to protect the store: object-typed metadata, bounded sizes and counts, and a checkin
 * status from the set Kibana derives statuses from (matched in any case: a degraded agent reports
 * "DEGRADED").
 */
const jsonObject = z.record(z.string(), z.unknown());
export const CHECKIN_STATUSES = ['online', 'error', 'degraded', 'starting', 'configuring', 'disconnected'];
const ID_MAX = 1024;
const STATUS_MAX = 64;
const MESSAGE_MAX = 64 * 1024;
const ACK_TOKEN_MAX = 1024;
const COUNT_MAX = 10_000;
const POLL_TIMEOUT_MAX = 64;
const POLICY_ID_MAX = 256;

const unit = z.object({
  id: goString(ID_MAX),
  type: goString(ID_MAX),
  status: goString(STATUS_MAX),
  message: goOptional(z.string()),
  payload: goOptional(jsonObject),
});
const component = z.object({
  id: goString(ID_MAX),
  type: goString(ID_MAX),
  status: goString(STATUS_MAX),
  message: goOptional(z.string()),
  units: goOptional(z.array(unit).max(COUNT_MAX)),
});
/** The rule: what is accepted, what it becomes, and the message naming the field when refused. */
export const checkinBodySchema = z.object({
  status: z.string().refine((v) => CHECKIN_STATUSES.includes(v.toLowerCase()), {
    error: `must be one of ${CHECKIN_STATUSES.join(', ')}`,
  }),
  message: goString(MESSAGE_MAX),
  ack_token: goOptional(z.string().max(ACK_TOKEN_MAX)),
  local_metadata: goOptional(localMetadataSchema),
  components: goOptional(z.array(component).max(COUNT_MAX)),
  poll_timeout: goOptional(z.string().max(POLL_TIMEOUT_MAX)),
  upgrade_details: goOptional(
    z.object({ target_version: z.string(), action_id: z.string(), state: z.string(), metadata: goOptional(jsonObject) }),
  ),
  agent_policy_id: goOptional(z.string().max(POLICY_ID_MAX)),
  policy_revision_idx: goOptional(z.number().int().min(0)),
  upgrade: goOptional(
    z.object({ rollbacks: goOptional(z.array(z.object({ version: z.string(), valid_until: z.string() })).max(100)) }),
  ),
});

/*
 * The steady checkin's body, checked without zod: the same bounds, written out once for the shape
 * every agent sends (strings, the status set, metadata objects, components and units). It accepts
 * a subset of what the schema accepts and returns what the schema would; anything it is not sure
 * of (a null, upgrade fields, any refusal) goes to the schema, which decides and names the field.
 * A property test holds the two to the same answers.
 */
const STATUS_SET = new Set(CHECKIN_STATUSES);
const OBJECT_METADATA = ['elastic', 'host', 'os'];
/** Not sure: let the schema decide. */
const UNSURE = Symbol('unsure');

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** goString: missing or null is "". */
function goText(v: unknown, max: number): string | typeof UNSURE {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' && v.length <= max ? v : UNSURE;
}

function copyObject(v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = v[k];
  return out;
}

function fastUnit(v: unknown): NonNullable<CheckinComponent['units']>[number] | typeof UNSURE {
  if (!isObject(v)) return UNSURE;
  const id = goText(v.id, ID_MAX);
  const type = goText(v.type, ID_MAX);
  const status = goText(v.status, STATUS_MAX);
  if (id === UNSURE || type === UNSURE || status === UNSURE) return UNSURE;
  const out: NonNullable<CheckinComponent['units']>[number] = { id, type, status };
  if (v.message !== undefined) {
    if (typeof v.message !== 'string') return UNSURE;
    out.message = v.message;
  }
  if (v.payload !== undefined) {
    if (!isObject(v.payload)) return UNSURE;
    out.payload = copyObject(v.payload) as never;
  }
  return out;
}

function fastComponent(v: unknown): CheckinComponent | typeof UNSURE {
  if (!isObject(v)) return UNSURE;
  const id = goText(v.id, ID_MAX);
  const type = goText(v.type, ID_MAX);
  const status = goText(v.status, STATUS_MAX);
  if (id === UNSURE || type === UNSURE || status === UNSURE) return UNSURE;
  const out = { id, type, status } as CheckinComponent;
  if (v.message !== undefined) {
    if (typeof v.message !== 'string') return UNSURE;
    out.message = v.message;
  }
  if (v.units !== undefined) {
    if (!Array.isArray(v.units) || v.units.length > COUNT_MAX) return UNSURE;
    const units: NonNullable<CheckinComponent['units']> = [];
    for (const u of v.units as unknown[]) {
      const checked = fastUnit(u);
      if (checked === UNSURE) return UNSURE;
      units.push(checked);
    }
    out.units = units;
  }
  return out;
}

/** The body as the schema returns it, or undefined when the schema must decide. */
export function fastCheckinBody(v: Record<string, unknown>): CheckinRequest | undefined {
  if (typeof v.status !== 'string' || !STATUS_SET.has(v.status.toLowerCase())) return undefined;
  const message = goText(v.message, MESSAGE_MAX);
  if (message === UNSURE) return undefined;
  // Go's upgrade fields and any null: rare, and the schema's business.
  if (v.upgrade_details !== undefined || v.upgrade !== undefined) return undefined;
  const out = { status: v.status, message } as CheckinRequest;
  if (v.ack_token !== undefined) {
    if (typeof v.ack_token !== 'string' || v.ack_token.length > ACK_TOKEN_MAX) return undefined;
    out.ack_token = v.ack_token;
  }
  if (v.local_metadata !== undefined) {
    const meta = v.local_metadata;
    if (!isObject(meta)) return undefined;
    for (const key of OBJECT_METADATA) if (meta[key] !== undefined && !isObject(meta[key])) return undefined;
    out.local_metadata = copyObject(meta) as never;
  }
  if (v.components !== undefined) {
    if (!Array.isArray(v.components) || v.components.length > COUNT_MAX) return undefined;
    const components: CheckinComponent[] = [];
    for (const c of v.components as unknown[]) {
      const checked = fastComponent(c);
      if (checked === UNSURE) return undefined;
      components.push(checked);
    }
    out.components = components;
  }
  if (v.poll_timeout !== undefined) {
    if (typeof v.poll_timeout !== 'string' || v.poll_timeout.length > POLL_TIMEOUT_MAX) return undefined;
    out.poll_timeout = v.poll_timeout;
  }
  if (v.agent_policy_id !== undefined) {
    if (typeof v.agent_policy_id !== 'string' || v.agent_policy_id.length > POLICY_ID_MAX) return undefined;
    out.agent_policy_id = v.agent_policy_id;
  }
  if (v.policy_revision_idx !== undefined) {
    if (typeof v.policy_revision_idx !== 'number' || !Number.isSafeInteger(v.policy_revision_idx) || v.policy_revision_idx < 0) return undefined;
    out.policy_revision_idx = v.policy_revision_idx;
  }
  return out;
}

/** A parsed checkin body, checked: the fast path when it is sure, the schema otherwise (400 naming the field). */
export function checkCheckinBody(value: Record<string, unknown>): CheckinRequest {
  return fastCheckinBody(value) ?? (validateAgentBody(checkinBodySchema, value) as CheckinRequest);
}
