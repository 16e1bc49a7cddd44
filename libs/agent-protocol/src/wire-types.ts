/**
 * The agent-facing wire format of elastic/fleet-server (API version 2023-06-01): request and
 * response bodies of enroll, checkin, acks, audit/unenroll and status.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const API_VERSION = '2023-06-01';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message?: string;
}

export interface EnrollRequest {
  type: 'PERMANENT' | 'EPHEMERAL' | 'TEMPORARY';
  id?: string;
  replace_token?: string;
  enrollment_id?: string;
  shared_id?: string;
  metadata: {
    local: JsonObject;
    user_provided?: JsonObject;
    tags?: string[];
  };
}

export interface EnrollResponse {
  action: 'created';
  item: {
    id: string;
    active: boolean;
    policy_id: string;
    type: string;
    enrolled_at: string;
    user_provided_metadata: JsonObject | null;
    local_metadata: JsonObject;
    access_api_key_id: string;
    access_api_key: string;
    actions: unknown[];
    status: string;
    tags: string[];
  };
}

export type AgentCheckinStatus = 'online' | 'error' | 'degraded' | 'starting' | 'configuring' | 'disconnected';

export interface CheckinComponentUnit {
  id: string;
  type: string;
  status: string;
  message?: string;
  payload?: JsonObject;
}

export interface CheckinComponent {
  id: string;
  type: string;
  status: string;
  message?: string;
  units?: CheckinComponentUnit[];
}

export interface UpgradeDetailsWire {
  target_version: string;
  action_id: string;
  state: string;
  metadata?: JsonObject;
}

export interface CheckinRequest {
  status: AgentCheckinStatus;
  message: string;
  ack_token?: string;
  local_metadata?: JsonObject;
  components?: CheckinComponent[];
  /** Go duration, e.g. `"35m0s"`. */
  poll_timeout?: string;
  upgrade_details?: UpgradeDetailsWire | null;
  agent_policy_id?: string;
  policy_revision_idx?: number;
  upgrade?: { rollbacks?: { version: string; valid_until: string }[] };
}

export const DELIVERABLE_ACTION_TYPES = [
  'CANCEL',
  'INPUT_ACTION',
  'POLICY_REASSIGN',
  'REQUEST_DIAGNOSTICS',
  'SETTINGS',
  'UNENROLL',
  'UPGRADE',
  'MIGRATE',
  'PRIVILEGE_LEVEL_CHANGE',
] as const;
export type DeliverableActionType = (typeof DELIVERABLE_ACTION_TYPES)[number];
export type AgentActionType = DeliverableActionType | 'POLICY_CHANGE';

export interface AgentAction {
  id: string;
  agent_id: string;
  created_at: string;
  type: AgentActionType;
  input_type: string;
  data: JsonValue;
  start_time?: string;
  expiration?: string;
  timeout?: number;
  traceparent?: string;
  signed?: { data: string; signature: string };
}

export interface CheckinResponse {
  ack_token: string;
  action: 'checkin';
  actions?: AgentAction[];
}

export interface AckEvent {
  type?: string;
  subtype?: string;
  agent_id?: string;
  action_id: string;
  message?: string;
  /** RFC 3339; when absent, the server records the time it received the ack. */
  timestamp?: string;
  error?: string;
  payload?: JsonValue;
  data?: JsonValue;
  action_input_type?: string;
  action_data?: JsonValue;
  action_response?: JsonValue;
  started_at?: string;
  completed_at?: string;
}

export interface AckRequest {
  events: AckEvent[];
}

export interface AckResponseItem {
  status: number;
  message: string;
}

export interface AckResponse {
  action: 'acks';
  errors?: boolean;
  items: AckResponseItem[];
}

export interface AuditUnenrollRequest {
  reason: 'uninstall' | 'orphaned' | 'key_revoked' | 'migrated';
  timestamp: string;
}

export type FleetServerState = 'STARTING' | 'CONFIGURING' | 'HEALTHY' | 'DEGRADED' | 'FAILED' | 'STOPPING' | 'STOPPED';

export interface StatusResponse {
  name: string;
  status: FleetServerState;
  version?: { number?: string; build_hash?: string; build_time?: string };
  /** Not in the reference: what an operator should know, e.g. the TLS certificate served and whether it expired. */
  details?: Record<string, unknown>;
}

/** `POST /api/fleet/uploads` (what elastic-agent sends after building a diagnostics bundle). */
export interface UploadBeginRequest {
  action_id: string;
  agent_id: string;
  src: string;
  file: { size: number; name: string; ext?: string; mime_type: string; hash?: { sha256?: string; md5?: string }; [field: string]: unknown };
  contents?: unknown;
  [field: string]: unknown;
}

export interface UploadBeginResponse {
  upload_id: string;
  chunk_size: number;
}
