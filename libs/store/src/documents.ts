/**
 * The documents of the `.fleet-*` indices, with the field names and shapes that Kibana's Fleet
 * plugin and elastic/fleet-server read and write. Both store backends hold exactly these shapes.
 */

/** Second-precision RFC 3339 UTC, the format of `enrolled_at` and `last_checkin`. */
export const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Index (collection) names, as in Elasticsearch. */
export const FleetIndex = {
  agents: '.fleet-agents',
  policies: '.fleet-policies',
  actions: '.fleet-actions',
  actionResults: '.fleet-actions-results',
  enrollmentApiKeys: '.fleet-enrollment-api-keys',
  artifacts: '.fleet-artifacts',
} as const;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface OutputApiKeyToRetire {
  id: string;
  retired_at: string;
  output?: string;
  /** `remote_elasticsearch` when the key lives on the output's remote cluster. */
  output_type?: string;
  /** Remote keys: the `remote_hosts_hash` of the cluster the key was made on (this server's own field). */
  remote_hosts_hash?: string;
  /** Remote keys: the agent policy whose revisions hold that cluster's configuration (this server's own field). */
  remote_policy_id?: string;
  secret_id?: string;
}

export interface AgentOutput {
  api_key?: string;
  api_key_id?: string;
  permissions_hash?: string;
  type?: string;
  /** For `remote_elasticsearch` outputs: a hash of the hosts the key was made on (a new key when they change). */
  remote_hosts_hash?: string;
  /**
   * For `remote_elasticsearch` outputs: the agent policy last delivered with this key, whose
   * revisions have the output on that cluster (where its revocation finds the service token).
   */
  remote_policy_id?: string;
  to_retire_api_key_ids?: OutputApiKeyToRetire[];
}

export interface ComponentUnit {
  id: string;
  type: string;
  status: string;
  message?: string;
  payload?: JsonObject;
}

export interface Component {
  id: string;
  type: string;
  status: string;
  message?: string;
  units?: ComponentUnit[];
}

export interface UpgradeDetails {
  target_version: string;
  action_id: string;
  state: string;
  metadata?: JsonObject;
}

/** A `.fleet-agents` document; `_id` is the agent id. */
export interface AgentDoc {
  active: boolean;
  type: 'PERMANENT' | 'EPHEMERAL' | 'TEMPORARY' | 'OPAMP';
  enrolled_at: string;
  policy_id: string;
  policy_base_id?: string;
  namespaces?: string[];
  access_api_key_id: string;
  agent: { id: string; version: string; type?: string };
  local_metadata: JsonObject;
  user_provided_metadata?: JsonObject | null;
  tags: string[];
  enrollment_id?: string | null;
  replace_token?: string | null;
  action_seq_no: number[];
  /**
   * This server's own field (not the reference's): the `.fleet-actions` checkpoint when the agent
   * last enrolled. Actions at or below it were addressed to the id before this enrollment: never
   * delivered to it, and their acks change nothing. Kept in `_source` only (the mapping is
   * `dynamic: false`); Kibana ignores it.
   */
  enrollment_action_seq_no?: number;
  updated_at?: string;
  last_checkin?: string;
  last_checkin_status?: string;
  last_checkin_message?: string;
  unhealthy_reason?: string[] | null;
  components?: Component[];
  agent_policy_id?: string | null;
  policy_revision_idx?: number | null;
  upgrade?: { rollbacks?: { version: string; valid_until: string }[] };
  outputs?: Record<string, AgentOutput>;
  upgrade_details?: UpgradeDetails | null;
  upgraded_at?: string | null;
  upgrade_started_at?: string | null;
  upgrade_status?: string | null;
  upgrade_attempts?: string[] | null;
  unenrolled_at?: string | null;
  unenrolled_reason?: string | null;
  unenrollment_started_at?: string | null;
  audit_unenrolled_time?: string | null;
  audit_unenrolled_reason?: string | null;
}

/** The agent-facing policy carried in `.fleet-policies` `data`. */
export interface FullAgentPolicy {
  id: string;
  revision: number;
  outputs: Record<string, JsonObject>;
  output_permissions?: Record<string, JsonObject>;
  inputs: JsonObject[];
  agent?: JsonObject;
  fleet?: JsonObject;
  signed?: { data: string; signature: string };
  secret_references?: { id: string }[];
  namespaces?: string[];
  [extra: string]: JsonValue | undefined;
}

/** A `.fleet-policies` document: one per (policy, revision). */
export interface PolicyRevisionDoc {
  '@timestamp': string;
  policy_id: string;
  revision_idx: number;
  coordinator_idx: number;
  default_fleet_server?: boolean;
  unenroll_timeout?: number;
  namespaces?: string[];
  data: FullAgentPolicy;
}

/** A `.fleet-actions` document; `_id` is arbitrary, several may share one `action_id`. */
export interface ActionDoc {
  action_id: string;
  '@timestamp': string;
  expiration?: string;
  start_time?: string;
  minimum_execution_duration?: number;
  rollout_duration_seconds?: number;
  type: string;
  input_type?: string;
  timeout?: number;
  agents?: string[];
  data?: JsonValue;
  secret_references?: { id: string }[];
  user_id?: string;
  namespaces?: string[];
  traceparent?: string;
  signed?: { data: string; signature: string };
}

/** A `.fleet-actions-results` document; `_id` is `<action_id>:<agent_id>`. */
export interface ActionResultDoc {
  '@timestamp': string;
  action_id: string;
  agent_id: string;
  namespaces?: string[];
  error?: string;
  data?: JsonValue;
  action_input_type?: string;
  started_at?: string;
  completed_at?: string;
  action_data?: JsonValue;
  action_response?: JsonValue;
}

/**
 * A `.fleet-enrollment-api-keys` document. Kibana keeps the plaintext token in `api_key`; this
 * project never stores it (see docs/compatibility.md, "Deviations"): the secret lives hashed in the credential store
 * and the token is shown once, when the key is created.
 */
export interface EnrollmentApiKeyDoc {
  active: boolean;
  api_key_id: string;
  api_key?: string;
  name: string;
  policy_id: string;
  namespaces?: string[];
  created_at: string;
  updated_at?: string;
  expire_at?: string;
}

/**
 * The management record of an agent policy (what Kibana keeps as the `ingest-agent-policies` saved
 * object). Its agent-facing content is rendered into a `.fleet-policies` revision on every change.
 */
export interface AgentPolicyRecord {
  id: string;
  name: string;
  namespace: string;
  description?: string;
  revision: number;
  is_managed: boolean;
  is_default?: boolean;
  is_default_fleet_server?: boolean;
  /**
   * Kibana's `has_fleet_server`: the policy has a `fleet-server` input. Derived from `inputs` on
   * every write (`hasFleetServerInput`), never set by a caller.
   */
  has_fleet_server?: boolean;
  status: 'active' | 'inactive';
  monitoring_enabled: string[];
  inactivity_timeout: number;
  unenroll_timeout?: number;
  created_at: string;
  updated_at: string;
  updated_by: string;
  /** Agent-facing content, set through the management API. */
  outputs?: Record<string, JsonObject>;
  output_permissions?: Record<string, JsonObject>;
  inputs?: JsonObject[];
  agent?: JsonObject;
  fleet?: JsonObject;
  /** The stored secrets its content names (derived on every write, as `has_fleet_server`). */
  secret_references?: { id: string }[];
}

/**
 * An entry of the built-in credential store, modelled on Elasticsearch API keys
 * (`POST /_security/api_key`). Only a hash of the secret is kept.
 */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /** `sha256$<salt b64>$<digest b64>` of the secret part. */
  hash: string;
  metadata: JsonObject;
  created_at: string;
  invalidated: boolean;
  invalidated_at?: string;
}

/** A stored document with its id and change-sequence number (`_seq_no` in Elasticsearch). */
export interface Hit<T> {
  _id: string;
  _seq_no: number;
  _source: T;
}
