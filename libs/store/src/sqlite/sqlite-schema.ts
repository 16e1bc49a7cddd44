/**
 * Schema of the embedded store. Each collection keeps the document as JSON next to the columns its
 * queries need; `seq_no` plays the part of Elasticsearch's `_seq_no`.
 * Migrations are append-only: a released statement is never edited.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
  INSERT INTO sequences (name, value) VALUES
    ('agents', 0), ('policies', 0), ('actions', 0), ('action_results', 0), ('enrollment_keys', 0);

  CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    seq_no INTEGER NOT NULL,
    access_api_key_id TEXT,
    enrollment_id TEXT,
    policy_id TEXT,
    active INTEGER NOT NULL,
    enrolled_at TEXT,
    doc TEXT NOT NULL
  );
  CREATE INDEX agents_access_api_key_id ON agents (access_api_key_id);
  CREATE INDEX agents_enrollment_id ON agents (enrollment_id);
  CREATE INDEX agents_policy_id ON agents (policy_id, active);
  CREATE INDEX agents_enrolled_at ON agents (enrolled_at, id);

  CREATE TABLE policy_revisions (
    id TEXT PRIMARY KEY,
    seq_no INTEGER NOT NULL UNIQUE,
    policy_id TEXT NOT NULL,
    revision_idx INTEGER NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX policy_revisions_latest ON policy_revisions (policy_id, revision_idx DESC);

  CREATE TABLE actions (
    id TEXT PRIMARY KEY,
    seq_no INTEGER NOT NULL UNIQUE,
    action_id TEXT NOT NULL,
    expiration_ms INTEGER,
    doc TEXT NOT NULL
  );
  CREATE INDEX actions_action_id ON actions (action_id, seq_no);
  CREATE INDEX actions_expiration ON actions (expiration_ms);
  CREATE TABLE action_targets (
    agent_id TEXT NOT NULL,
    seq_no INTEGER NOT NULL,
    PRIMARY KEY (agent_id, seq_no)
  ) WITHOUT ROWID;
  CREATE INDEX action_targets_seq_no ON action_targets (seq_no);

  CREATE TABLE action_results (
    id TEXT PRIMARY KEY,
    seq_no INTEGER NOT NULL,
    action_id TEXT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX action_results_action_id ON action_results (action_id);

  CREATE TABLE enrollment_keys (
    id TEXT PRIMARY KEY,
    seq_no INTEGER NOT NULL,
    api_key_id TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX enrollment_keys_api_key_id ON enrollment_keys (api_key_id, active);
  CREATE INDEX enrollment_keys_created ON enrollment_keys (created_at, id);

  CREATE TABLE api_keys (id TEXT PRIMARY KEY, doc TEXT NOT NULL);

  CREATE TABLE agent_policies (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX agent_policies_created ON agent_policies (created_at, id);
  `,
  // Files uploaded by agents (sqlite-upload-store.ts): meta rows and their chunks as BLOBs.
  `
  CREATE TABLE file_uploads (
    id TEXT PRIMARY KEY,
    upload_id TEXT NOT NULL UNIQUE,
    agent_id TEXT NOT NULL,
    action_id TEXT NOT NULL,
    src TEXT NOT NULL,
    status TEXT NOT NULL,
    upload_start INTEGER NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX file_uploads_agent ON file_uploads (agent_id, upload_start);
  CREATE INDEX file_uploads_status ON file_uploads (status, upload_start);
  CREATE TABLE file_chunks (
    file_id TEXT NOT NULL,
    pos INTEGER NOT NULL,
    last INTEGER NOT NULL,
    sha2 TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (file_id, pos)
  );
  `,
  // The store's identity (StoreIdentity): one row, written at the first start.
  `
  CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  // Management API keys and the append-only audit trail (sqlite-management-store.ts). The
  // triggers make the trail append-only in the file itself, whatever connection writes to it.
  `
  CREATE TABLE management_keys (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX management_keys_created ON management_keys (created_at, id);
  CREATE TABLE audit_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
  );
  CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
  CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
  `,
  // `.fleet-servers` (sqlite-fleet-servers.ts): one heartbeat row per running server.
  `
  CREATE TABLE fleet_servers (
    id TEXT PRIMARY KEY,
    timestamp_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX fleet_servers_timestamp ON fleet_servers (timestamp_ms);
  `,
  // Secrets of agent policies (sqlite-secret-store.ts): sealed values only, never plaintext.
  `
  CREATE TABLE secrets (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX secrets_key_id ON secrets (key_id, id);
  `,
  // Output health documents (sqlite-output-health.ts): appended, one per state change of an output.
  `
  CREATE TABLE output_health (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    output TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX output_health_output ON output_health (output, seq);
  `,
  // Console sessions signed out (sqlite-console-sessions.ts): one row per ended session id, kept
  // until the session's own expiry, then swept.
  `
  CREATE TABLE console_sessions_ended (
    sid TEXT PRIMARY KEY,
    expires_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
  );
  CREATE INDEX console_sessions_ended_expires ON console_sessions_ended (expires_ms);
  `,
];
