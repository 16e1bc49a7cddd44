/**
 * The indices of the Elasticsearch backend. Where Elasticsearch's `fleet` module is installed it
 * owns the `.fleet-*` system indices (and Kibana writes them); this backend then uses them as they
 * are. Where it is not (e.g. the integration-test distribution), the backend creates them with these
 * mappings: the field names and types Kibana and elastic/fleet-server read, with `dynamic: false` so
 * unknown fields are kept in `_source` but never grow the mapping.
 */

type Mapping = Record<string, unknown>;

export interface IndexDefinition {
  /**
   * The name every query uses. With the fleet module it is an alias of a system index; without it,
   * the backend creates an index of this name (the service account may create indices, not aliases).
   */
  alias: string;
  mappings: Mapping;
  /** Owned by Elasticsearch's fleet module when it is installed (never created by this backend then). */
  system: boolean;
}

const keyword = { type: 'keyword' };
const date = { type: 'date' };
const bool = { type: 'boolean' };
const long = { type: 'long' };
const integer = { type: 'integer' };
const opaque = { type: 'object', enabled: false };

const base = (properties: Mapping): Mapping => ({ dynamic: false, properties });

export const INDEX_SETTINGS = {
  number_of_shards: 1,
  auto_expand_replicas: '0-1',
  hidden: true,
  refresh_interval: '1s',
};

export const ES_INDICES = {
  agents: {
    alias: '.fleet-agents',
    system: true,
    mappings: base({
      active: bool,
      type: keyword,
      enrolled_at: date,
      updated_at: date,
      policy_id: keyword,
      policy_base_id: keyword,
      namespaces: keyword,
      access_api_key_id: keyword,
      agent: { properties: { id: keyword, version: keyword, type: keyword } },
      local_metadata: {
        properties: {
          elastic: { properties: { agent: { properties: { id: keyword, version: keyword, snapshot: bool, upgradeable: bool } } } },
          host: { properties: { hostname: keyword, name: keyword, id: keyword, architecture: keyword } },
          os: { properties: { name: keyword, platform: keyword, version: keyword, family: keyword } },
        },
      },
      tags: keyword,
      enrollment_id: keyword,
      replace_token: { type: 'keyword', index: false },
      user_provided_metadata: opaque,
      last_checkin: date,
      last_checkin_status: keyword,
      last_checkin_message: { type: 'text' },
      unhealthy_reason: keyword,
      components: opaque,
      agent_policy_id: keyword,
      policy_revision_idx: long,
      action_seq_no: long,
      upgrade: opaque,
      outputs: opaque,
      upgrade_details: { properties: { target_version: keyword, action_id: keyword, state: keyword, metadata: opaque } },
      upgraded_at: date,
      upgrade_started_at: date,
      upgrade_status: keyword,
      upgrade_attempts: date,
      unenrolled_at: date,
      unenrolled_reason: keyword,
      unenrollment_started_at: date,
      audit_unenrolled_time: date,
      audit_unenrolled_reason: keyword,
      sequence_num: long,
    }),
  },
  policies: {
    alias: '.fleet-policies',
    system: true,
    mappings: base({
      '@timestamp': date,
      policy_id: keyword,
      revision_idx: long,
      coordinator_idx: long,
      default_fleet_server: bool,
      unenroll_timeout: integer,
      namespaces: keyword,
      data: opaque,
    }),
  },
  actions: {
    alias: '.fleet-actions',
    system: true,
    mappings: base({
      action_id: keyword,
      '@timestamp': date,
      expiration: date,
      start_time: date,
      minimum_execution_duration: integer,
      rollout_duration_seconds: integer,
      type: keyword,
      input_type: keyword,
      timeout: integer,
      agents: keyword,
      data: opaque,
      secret_references: opaque,
      user_id: keyword,
      namespaces: keyword,
      traceparent: keyword,
      signed: opaque,
    }),
  },
  actionResults: {
    alias: '.fleet-actions-results',
    system: true,
    mappings: base({
      '@timestamp': date,
      action_id: keyword,
      agent_id: keyword,
      namespaces: keyword,
      error: { type: 'text' },
      data: opaque,
      action_input_type: keyword,
      started_at: date,
      completed_at: date,
      action_data: opaque,
      action_response: opaque,
    }),
  },
  enrollmentKeys: {
    alias: '.fleet-enrollment-api-keys',
    system: true,
    mappings: base({
      active: bool,
      api_key_id: keyword,
      api_key: { type: 'keyword', index: false },
      name: keyword,
      policy_id: keyword,
      namespaces: keyword,
      created_at: date,
      updated_at: date,
      expire_at: date,
    }),
  },
  artifacts: {
    alias: '.fleet-artifacts',
    system: true,
    mappings: base({
      identifier: keyword,
      compression_algorithm: keyword,
      encryption_algorithm: keyword,
      encoded_sha256: keyword,
      encoded_size: long,
      decoded_sha256: keyword,
      decoded_size: long,
      created: date,
      body: { type: 'binary' },
      package_name: keyword,
    }),
  },
  /** Management records of agent policies (Kibana keeps these as saved objects). */
  agentPolicies: {
    alias: '.fleet-policies-definitions',
    system: false,
    mappings: base({ id: keyword, name: keyword, created_at: date, updated_at: date, doc: opaque }),
  },
  /**
   * One heartbeat document per running server (the reference's deprecated `server` schema), for
   * Kibana releases that count them to tell whether a Fleet Server is connected. The fleet module
   * owns it (`.fleet-servers*`, primary index `.fleet-servers-7`).
   */
  fleetServers: {
    alias: '.fleet-servers',
    system: true,
    mappings: base({
      '@timestamp': date,
      agent: { properties: { id: keyword, version: keyword } },
      host: { properties: { id: keyword, architecture: keyword, name: keyword, ip: keyword } },
      server: { properties: { id: keyword, version: keyword } },
    }),
  },
  /**
   * The store's identity (StoreIdentity): one document, `store_id`, written at the first start.
   * Named under `.fleet-servers*`, which the fleet-server service account may write.
   */
  storeIdentity: {
    alias: '.fleet-servers-identity',
    system: false,
    mappings: base({ store_id: keyword, created_at: date }),
  },
  /** Hashed API keys, used only when Elasticsearch security is off. */
  builtinApiKeys: {
    alias: '.fleet-builtin-api-keys',
    system: false,
    mappings: base({ id: keyword, invalidated: bool, doc: opaque }),
  },
  /**
   * Management API keys (salted SHA-256 of each secret). Named like `.fleet-policies-definitions`:
   * the elastic/fleet-server service account may create and write only indices of the `.fleet-*`
   * patterns it is granted (`.fleet-policies*` among them), and the fleet module's system indices
   * claim only `.fleet-policies-[0-9]+*` and `.fleet-policies-leader*` of that pattern.
   */
  managementKeys: {
    alias: '.fleet-policies-management-api-keys',
    system: false,
    mappings: base({
      id: keyword,
      name: keyword,
      role: keyword,
      hash: { type: 'keyword', index: false },
      created_at: date,
      created_by: keyword,
      revoked_at: date,
      revoked_by: keyword,
    }),
  },
  /**
   * The audit trail of the management API: documents are only ever created (op_type create). Its
   * name follows the same rule as the keys' index.
   */
  audit: {
    alias: '.fleet-policies-management-audit',
    system: false,
    mappings: base({
      id: keyword,
      '@timestamp': date,
      actor: { properties: { kind: keyword, id: keyword, name: keyword, role: keyword } },
      request: { properties: { method: keyword, route: keyword, id: keyword } },
      target: {
        properties: {
          agent_ids: keyword,
          agent_count: integer,
          policy_id: keyword,
          enrollment_key_id: keyword,
          management_key_id: keyword,
          action_id: keyword,
          file_id: keyword,
        },
      },
      action_type: keyword,
      client: { properties: { address: keyword } },
      outcome: { properties: { status_code: integer, aborted: bool } },
    }),
  },
  /**
   * Console sessions that were signed out (one document per session id, its id the sid), kept until
   * the session's own expiry. Named under `.fleet-policies*` for the same reason as the keys' index.
   */
  consoleSessions: {
    alias: '.fleet-policies-console-sessions-ended',
    system: false,
    mappings: base({ sid: keyword, expires_at: date, ended_at: date }),
  },
} satisfies Record<string, IndexDefinition>;

export type IndexKey = keyof typeof ES_INDICES;

/**
 * Kibana's secrets index (`{value}` documents; the fleet module's mapping: `value` a keyword, not
 * indexed). Not among `ES_INDICES`: the elastic/fleet-server service account may read it but not
 * create it. With the fleet module it is reached only through `/_fleet/secret`; without it, the
 * secret store reads it directly and creates it on the first write (es-secret-store.ts).
 */
export const SECRETS_INDEX = '.fleet-secrets';

/**
 * Files from hosts (elastic/fleet-server's uploads): one meta and one data index per source
 * (`agent`, `endpoint`, ...). With the fleet module they are data streams of its
 * `.fleet-fileds-fromhost-{meta,data}` templates; without it the backend creates plain hidden
 * indices with these mappings on first use (es-upload-store.ts).
 */
export const FILE_FROM_HOST_INDICES = {
  meta: {
    prefix: '.fleet-fileds-fromhost-meta-',
    mappings: base({
      '@timestamp': date,
      upload_start: date,
      upload_id: keyword,
      action_id: keyword,
      agent_id: keyword,
      src: keyword,
      namespaces: keyword,
      file: {
        properties: {
          name: keyword,
          mime_type: keyword,
          extension: keyword,
          size: long,
          ChunkSize: integer,
          Status: keyword,
          Compression: keyword,
          hash: { properties: { md5: keyword, sha1: keyword, sha256: keyword, sha512: keyword } },
        },
      },
      transithash: { properties: { sha256: keyword } },
      contents: opaque,
    }),
  },
  data: {
    prefix: '.fleet-fileds-fromhost-data-',
    mappings: base({ '@timestamp': date, bid: keyword, last: bool, sha2: keyword, data: { type: 'binary', store: true } }),
  },
} as const;
