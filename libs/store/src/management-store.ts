/**
 * Management API keys (scoped bearer tokens for `/api/fleet/...`) and the audit trail of the
 * management API: two sub-ports of the store, on both backends.
 */
import { randomBytes } from 'node:crypto';
import type { Page, PageRequest } from './store-port';
import { hashApiKeySecret, verifyApiKeySecret } from './secrets';

// The roles are the management API's (its contract owns them); the store keeps them on each key.
import type { ManagementRole } from '@fleet/management-api';
export { MANAGEMENT_ROLES, type ManagementRole } from '@fleet/management-api';

/** A stored management key. `hash` is a salted SHA-256 of its 256-bit secret; the secret is never stored. */
export interface ManagementKeyRecord {
  id: string;
  name: string;
  role: ManagementRole;
  hash: string;
  created_at: string;
  /** Name of the actor that created it. */
  created_by: string;
  revoked_at?: string;
  revoked_by?: string;
}

export interface ManagementKeyStore {
  /** `DocumentConflictError` if the id exists. */
  create(record: ManagementKeyRecord): Promise<ManagementKeyRecord>;
  /** Read in real time (never from a stale index), so a revocation is seen by every replica at once. */
  get(id: string): Promise<ManagementKeyRecord | undefined>;
  /** Every key, revoked ones included, newest first. */
  list(request: PageRequest): Promise<Page<ManagementKeyRecord>>;
  /**
   * Marks the key revoked (`DocumentNotFoundError` if there is none). A key already revoked is
   * returned as it is: the first revocation's time and actor are kept.
   */
  revoke(id: string, by: string, at: string): Promise<ManagementKeyRecord>;
}

/** Who made a management call: a management key, or the bootstrap admin token. */
export interface AuditActor {
  kind: 'management-key' | 'bootstrap';
  /** The key id (absent for the bootstrap token). */
  id?: string;
  name: string;
  role: ManagementRole;
}

/** What a management call named or created. Lists are capped (`agent_count` has the full number). */
export interface AuditTarget {
  agent_ids?: string[];
  agent_count?: number;
  policy_id?: string;
  enrollment_key_id?: string;
  management_key_id?: string;
  action_id?: string;
  file_id?: string;
}

/** One mutating management call, written once and never changed. */
export interface AuditRecord {
  id: string;
  '@timestamp': string;
  actor: AuditActor;
  request: {
    method: string;
    /** The route pattern (`/api/fleet/agents/:id/actions`), never the raw path or query. */
    route: string;
    /** `X-Request-Id`, to find the request's log lines. */
    id: string;
  };
  target: AuditTarget;
  /** The action type, for calls that create an action (`UPGRADE`, `MIGRATE`, ...). */
  action_type?: string;
  client: { address: string };
  /** `aborted`: the client left before the answer was sent (the status is then the one set so far). */
  outcome: { status_code: number; aborted?: true };
}

/** The append-only audit trail: records are created, read, and nothing else (no update or delete). */
export interface AuditStore {
  /** Create-only; `DocumentConflictError` if the id exists. */
  append(record: AuditRecord): Promise<void>;
  /** Newest first (in the order they were written). */
  list(request: PageRequest): Promise<Page<AuditRecord>>;
}

/** A new management key: the record to store, and the token shown once to its creator. */
export interface IssuedManagementKey {
  record: ManagementKeyRecord;
  /** `fmk_<id>_<secret>`: what goes into `Authorization: Bearer`. */
  token: string;
}

const TOKEN = /^fmk_([0-9a-f]{20})_([A-Za-z0-9_-]{43})$/;

/** A new key: a 20-hex-digit id and a 256-bit random secret, stored only as a salted SHA-256. */
export function issueManagementKey(input: { name: string; role: ManagementRole; createdBy: string; now: Date }): IssuedManagementKey {
  const id = randomBytes(10).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return {
    record: { id, name: input.name, role: input.role, hash: hashApiKeySecret(secret), created_at: input.now.toISOString(), created_by: input.createdBy },
    token: `fmk_${id}_${secret}`,
  };
}

/** The id and secret of a management key token, or undefined if the value is not shaped like one. */
export function parseManagementKeyToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN.exec(token);
  return m?.[1] && m[2] ? { id: m[1], secret: m[2] } : undefined;
}

/** Constant-time check of a presented secret against the stored hash; a revoked key never verifies. */
export function verifyManagementKey(record: ManagementKeyRecord, secret: string): boolean {
  const matches = verifyApiKeySecret(secret, record.hash);
  return matches && record.revoked_at === undefined;
}
