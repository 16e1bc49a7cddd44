import type { OutputKeyCluster } from '../output-key-cluster';
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, statfsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type {
  ActionDoc,
  ActionResultDoc,
  AgentDoc,
  AgentPolicyRecord,
  ApiKeyRecord,
  EnrollmentApiKeyDoc,
  Hit,
  PolicyRevisionDoc,
} from '../documents';
import { ActionSealer, withSealedSecrets } from '../action-secrets';
import { deriveAgentStatus, zeroStatusCounts, type AgentStatus, type StatusContext } from '../agent-status';
import { DEFAULT_AGENT_SORT } from '../agent-sort';
import { supersededStatusWrite } from '../checkin-order';
import { DocumentConflictError, DocumentNotFoundError, StoreCorruptError, StoreUnavailableError } from '../errors';
import { apiKeyInfo, issueBuiltinApiKey, newId, policyRevisionDocId, verifyApiKeySecret } from '../secrets';
import type {
  ActionResultStore,
  ActionStore,
  AgentPolicyStore,
  AgentQuery,
  AgentScope,
  AgentSortField,
  AgentStore,
  CredentialStore,
  BulkItemOutcome,
  BulkUpdate,
  EnrollmentKeyStore,
  FleetStore,
  Page,
  PageRequest,
  PendingActionQuery,
  PolicyRevisionStore,
  ResultOutcome,
  StoreIdentity,
} from '../store-port';
import { MIGRATIONS } from './sqlite-schema';
import { createSqliteConsoleSessionStore } from './sqlite-console-sessions';
import type { ConsoleSessionStore } from '../console-session-store';
import { createSqliteDeliveryStores } from './sqlite-delivery';
import type { ArtifactStore, DeliveryFileStore } from '../delivery-port';
import type { FileUploadStore } from '../upload-store';
import { createSqliteUploadStore } from './sqlite-upload-store';
import type { AuditStore, ManagementKeyStore } from '../management-store';
import { createSqliteManagementStores } from './sqlite-management-store';
import { createSqliteFleetServerStore } from './sqlite-fleet-servers';
import type { FleetServerStore } from '../fleet-server-store';
import type { OutputHealthDoc, OutputHealthStore } from '../output-health';
import { createSqliteOutputHealthStore, readSqliteOutputHealth } from './sqlite-output-health';
import { SqliteGroupCommit } from './sqlite-group-commit';
import type { SecretStore } from '../secret-store';
import { loadKeyFile } from '../sealing';
import { createSqliteSecretStore, reencryptSecrets, type SecretKeys } from './sqlite-secret-store';
import type { RolloutStore } from '../rollout-store';
import { createSqliteRolloutStore } from './sqlite-rollout-store';

export interface SqliteStoreOptions {
  /** Database file, or `:memory:` for tests. */
  path: string;
  /** `FULL` survives power loss; `NORMAL` (default) survives process crashes, faster in WAL mode. */
  synchronous?: 'FULL' | 'NORMAL';
  /** Free space the file system must keep for the store to report ready (default 32 MiB; 0: no check). */
  minFreeBytes?: number;
  /** Seals action secrets at rest with this key (see action-secrets.ts); without it they are stored as given. */
  actionSecretsKey?: Buffer;
  /**
   * Keys of the policy secrets table. Default: `secrets.key` beside the database file, created
   * (0600) on first start; a random key for `:memory:`. With `previous`, secrets sealed with it are
   * re-encrypted with `current` when the store opens (key rotation).
   */
  secretKeys?: SecretKeys;
  /** Where output keys are made (see `outputKeyTarget`); closed with the store. */
  outputKeyCluster?: OutputKeyCluster;
}

type Row = { id: string; seq_no: number; doc: string };

/**
 * SQLite result codes that mean the store itself is unusable (disk full, I/O error, read-only,
 * damaged), as opposed to a bad request: they answer 503 and fail readiness until a probe succeeds.
 */
const STORE_FAULT = /^SQLITE_(FULL|IOERR|CORRUPT|NOTADB|READONLY|CANTOPEN|PROTOCOL|NOMEM|BUSY|LOCKED)/;
/** Of those, the ones no retry cures: the file is damaged. */
const STORE_DAMAGED = /^SQLITE_(CORRUPT|NOTADB)/;
const sqliteCode = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
};
type Seq = 'agents' | 'policies' | 'actions' | 'action_results' | 'enrollment_keys';

const parse = <T>(row: Row): Hit<T> => ({ _id: row.id, _seq_no: row.seq_no, _source: JSON.parse(row.doc) as T });
const expirationMs = (doc: ActionDoc): number | null => {
  if (!doc.expiration) return null;
  const ms = Date.parse(doc.expiration);
  return Number.isNaN(ms) ? null : ms;
};
const offset = (p: PageRequest): number => (p.page - 1) * p.perPage;
/** The fields a partial update names: as in JSON (and Elasticsearch), an `undefined` value names none. */
/** Most fields a batched agent write sets in place (a checkin's status has up to about a dozen). */
const FIELD_PATCH_MAX = 16;
/** Field names written in place by path; anything else takes the whole-document rewrite. */
const PATCHABLE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Agent fields mirrored in their own columns: writing them rewrites the row as a whole. */
const COLUMN_KEYS = new Set(['access_api_key_id', 'enrollment_id', 'policy_id', 'active', 'enrolled_at']);

/** The SQL expression of each sort field: a column, or a fixed JSON path of the document. */
const SORT_EXPRESSIONS: Record<AgentSortField, string> = {
  enrolled_at: 'enrolled_at',
  policy_id: 'policy_id',
  last_checkin: "json_extract(doc, '$.last_checkin')",
  'local_metadata.host.hostname': "json_extract(doc, '$.local_metadata.host.hostname')",
  'local_metadata.elastic.agent.version': "json_extract(doc, '$.local_metadata.elastic.agent.version')",
};
const sortExpression = (field: AgentSortField): string => {
  const expr = SORT_EXPRESSIONS[field];
  if (!expr) throw new Error(`unknown agent sort field ${String(field)}`);
  return expr;
};

/** The WHERE clause of an agent scope: fixed SQL, values bound. */
function scopeWhere(scope: AgentScope): { where: string; args: string[] } {
  const where: string[] = [];
  const args: string[] = [];
  if (!scope.showInactive) where.push('active = 1');
  if (scope.policyIds?.length) {
    where.push(`policy_id IN (${scope.policyIds.map(() => '?').join(',')})`);
    args.push(...scope.policyIds);
  }
  if (scope.tags?.length) {
    where.push(`EXISTS (SELECT 1 FROM json_each(agents.doc, '$.tags') WHERE value IN (${scope.tags.map(() => '?').join(',')}))`);
    args.push(...scope.tags);
  }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}

/** The fields `deriveAgentStatus` reads, as columns. */
const STATUS_FIELDS = [
  'unenrolled_at',
  'audit_unenrolled_reason',
  'last_checkin',
  'upgrade_started_at',
  'upgraded_at',
  'unenrollment_started_at',
  'last_checkin_status',
  'policy_revision_idx',
] as const;
/** One `json_extract` of several paths: the document is parsed once per row, into a small JSON array. */
const STATUS_COLUMNS = `id, policy_id, active, json_extract(doc, ${STATUS_FIELDS.map((f) => `'$.${f}'`).join(', ')}) AS fields`;
type StatusRow = { id: string; policy_id: string; active: number; fields: string };
const statusDoc = (row: StatusRow): AgentDoc => {
  const values = JSON.parse(row.fields) as unknown[];
  const doc: Record<string, unknown> = { policy_id: row.policy_id, active: row.active === 1 };
  STATUS_FIELDS.forEach((f, i) => {
    const v = values[i];
    if (v !== null && v !== undefined) doc[f] = v;
  });
  return doc as unknown as AgentDoc;
};

const namedFields = <T extends object>(fields: Partial<T>): Partial<T> =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;

/**
 * The embedded backend: one SQLite file in WAL mode. better-sqlite3 runs statements synchronously
 * on the calling thread, so every write is serialized and `seq_no` order equals commit order.
 * Write transactions begin IMMEDIATE: when several processes share the file (the standalone
 * services), a transaction that read first and wrote later would otherwise fail with "database
 * is locked" at once whenever another process committed in between, instead of waiting its turn
 * (busy_timeout).
 */
export class SqliteFleetStore implements FleetStore {
  readonly backend = 'sqlite' as const;
  readonly agents: AgentStore;
  readonly policies: PolicyRevisionStore;
  readonly actions: ActionStore;
  readonly actionResults: ActionResultStore;
  readonly enrollmentKeys: EnrollmentKeyStore;
  readonly credentials: CredentialStore;
  readonly outputKeyCluster: OutputKeyCluster | undefined;
  readonly agentPolicies: AgentPolicyStore;
  readonly deliveryFiles: DeliveryFileStore;
  readonly artifacts: ArtifactStore;
  readonly uploads: FileUploadStore;
  readonly managementKeys: ManagementKeyStore;
  readonly fleetServers: FleetServerStore;
  readonly outputHealth: OutputHealthStore;
  readonly consoleSessions: ConsoleSessionStore;
  readonly audit: AuditStore;
  readonly rollouts: RolloutStore;
  readonly secrets: SecretStore;
  /** What opening the store did to the secrets table: rows re-encrypted with the current key, rows no key opens. */
  readonly secretKeyRotation: { reencrypted: number; unreadable: number };

  readonly identity: StoreIdentity;

  private readonly db: Database.Database;
  /** The last store-level failure (disk full, I/O, damage), until a probe succeeds again. */
  private fault: { code: string; damaged: boolean } | undefined;
  private readonly probeRead: Database.Statement;
  private readonly spaceCheck: (() => void) | undefined;
  private readonly probeWrite: Database.Statement;
  private closed = false;
  private readonly nextSeqStmt: Database.Statement<[string], { value: number }>;
  /** Agent and key creates of concurrent enrollments share a commit. */
  private readonly groupCommit: SqliteGroupCommit;

  constructor(opts: SqliteStoreOptions) {
    const onDisk = opts.path !== ':memory:';
    if (onDisk) {
      // The store holds every agent's key hashes and action secrets: owner only.
      const dir = dirname(opts.path);
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    }
    try {
      this.db = new Database(opts.path);
      this.db.pragma('journal_mode = WAL');
    } catch (err) {
      throw openFailure(opts.path, err);
    }
    if (onDisk) restrictFiles(opts.path);
    this.checkIntegrity(opts.path);
    this.db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.nextSeqStmt = this.db.prepare('UPDATE sequences SET value = value + 1 WHERE name = ? RETURNING value');
    this.groupCommit = new SqliteGroupCommit(this.db, (err) => this.translate(err), () => this.closed);
    this.agents = this.createAgentStore();
    this.policies = this.createPolicyStore();
    this.actions = opts.actionSecretsKey ? withSealedSecrets(this.createActionStore(), new ActionSealer(opts.actionSecretsKey)) : this.createActionStore();
    this.actionResults = this.createActionResultStore();
    this.enrollmentKeys = this.createEnrollmentKeyStore();
    this.credentials = this.createCredentialStore();
    this.outputKeyCluster = opts.outputKeyCluster;
    this.agentPolicies = this.createAgentPolicyStore();
    ({ deliveryFiles: this.deliveryFiles, artifacts: this.artifacts } = createSqliteDeliveryStores(this.db, (fn) => this.guard(fn)));
    this.uploads = createSqliteUploadStore(this.db, (fn) => this.guard(fn));
    this.identity = this.createIdentity();
    this.probeRead = this.db.prepare('SELECT value FROM sequences ORDER BY name LIMIT 1');
    this.probeWrite = this.db.prepare("UPDATE sequences SET value = value WHERE name = 'agents'");
    const minFree = opts.minFreeBytes ?? 32 * 1024 * 1024;
    if (onDisk && minFree > 0) this.spaceCheck = () => checkFreeSpace(dirname(opts.path), minFree);
    ({ managementKeys: this.managementKeys, audit: this.audit } = createSqliteManagementStores(this.db, (fn) => this.guard(fn)));
    this.rollouts = createSqliteRolloutStore(this.db, (fn) => this.guard(fn));
    this.fleetServers = createSqliteFleetServerStore(this.db, (fn) => this.guard(fn));
    this.outputHealth = createSqliteOutputHealthStore(this.db, (fn) => this.guard(fn));
    this.consoleSessions = createSqliteConsoleSessionStore(this.db, (fn) => this.guard(fn));
    const secretKeys = opts.secretKeys ?? { current: onDisk ? loadKeyFile(join(dirname(opts.path), 'secrets.key')) : randomBytes(32) };
    this.secretKeyRotation = reencryptSecrets(this.db, secretKeys);
    this.secrets = createSqliteSecretStore(this.db, (fn) => this.guard(fn), secretKeys);
  }

  /**
   * Readiness: reads a table (not just `SELECT 1`, which answers on a damaged file). After a
   * store-level failure it also writes, so a full disk or a read-only file keeps the store
   * unready until writes succeed again; a damaged file stays unready until it is restored.
   */
  ping(): Promise<void> {
    return this.guard(() => {
      if (this.fault?.damaged) {
        throw new StoreUnavailableError(`the embedded store is damaged (${this.fault.code}): stop the server and restore the file from a backup`);
      }
      this.probeRead.get();
      // A write that still fits in the WAL's old space proves nothing about a full disk: the
      // file system's free space does.
      this.spaceCheck?.();
      if (this.fault) {
        this.db.transaction(() => this.probeWrite.run()).immediate();
        this.fault = undefined;
      }
    });
  }

  /** Writes are synchronous transactions: nothing is ever pending. */
  pendingWrites(): number {
    return 0;
  }

  /** No grouped writes to report: every write is its own transaction. */
  onBulkWrite(): () => void {
    return () => undefined;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.groupCommit.flush();
      this.closed = true;
      this.db.close();
    }
    return this.outputKeyCluster?.close() ?? Promise.resolve();
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let i = version; i < MIGRATIONS.length; i++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[i] ?? '');
        this.db.pragma(`user_version = ${i + 1}`);
      }).immediate();
    }
  }

  private nextSeq(name: Seq): number {
    const row = this.nextSeqStmt.get(name);
    if (!row) throw new Error(`unknown sequence ${name}`);
    return row.value;
  }

  private guard<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(this.translate(err));
    }
  }

  /** Store-level SQLite failures become `StoreUnavailableError` (503) and mark the store unready. */
  private translate(err: unknown): Error {
    const code = sqliteCode(err);
    if (code && STORE_FAULT.test(code)) {
      const transient = code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
      if (!transient) this.fault = { code, damaged: STORE_DAMAGED.test(code) || this.fault?.damaged === true };
      return new StoreUnavailableError(`embedded store unavailable (${code})`, { cause: err });
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  /** `PRAGMA quick_check` at open: a damaged file stops the process instead of serving errors. */
  private checkIntegrity(path: string): void {
    let rows: Array<{ quick_check: string }>;
    try {
      rows = this.db.pragma('quick_check(5)') as Array<{ quick_check: string }>;
    } catch (err) {
      this.db.close();
      throw openFailure(path, err);
    }
    if (rows.length !== 1 || rows[0]?.quick_check !== 'ok') {
      this.db.close();
      const problems = rows.map((r) => r.quick_check).join('; ');
      throw new StoreCorruptError(`the embedded store ${path} failed its integrity check (${problems}): restore it from a backup`);
    }
  }

  private createIdentity(): StoreIdentity {
    const get = this.db.prepare<[], { value: string }>("SELECT value FROM store_meta WHERE key = 'store_id'");
    const insert = this.db.prepare("INSERT OR IGNORE INTO store_meta (key, value) VALUES ('store_id', ?)");
    return {
      get: () => this.guard(() => get.get()?.value),
      claim: (id) => this.guard(() => {
        insert.run(id);
        return get.get()?.value ?? id;
      }),
    };
  }

  // ---- agents -------------------------------------------------------------------------------

  private createAgentStore(): AgentStore {
    const db = this.db;
    const getStmt = db.prepare<[string], Row>('SELECT id, seq_no, doc FROM agents WHERE id = ?');
    const insertStmt = db.prepare(
      `INSERT INTO agents (id, seq_no, access_api_key_id, enrollment_id, policy_id, active, enrolled_at, doc)
       VALUES (@id, @seq_no, @access_api_key_id, @enrollment_id, @policy_id, @active, @enrolled_at, @doc)`,
    );
    const replaceStmt = db.prepare(
      `UPDATE agents SET seq_no = @seq_no, access_api_key_id = @access_api_key_id, enrollment_id = @enrollment_id,
       policy_id = @policy_id, active = @active, enrolled_at = @enrolled_at, doc = @doc WHERE id = @id`,
    );
    const byKeyStmt = db.prepare<[string], Row>(
      'SELECT id, seq_no, doc FROM agents WHERE access_api_key_id = ? ORDER BY seq_no DESC LIMIT 1',
    );
    const byEnrollmentStmt = db.prepare<[string], Row>(
      'SELECT id, seq_no, doc FROM agents WHERE enrollment_id = ? ORDER BY seq_no DESC LIMIT 1',
    );
    const deleteStmt = db.prepare('DELETE FROM agents WHERE id = ?');
    const countByPolicyStmt = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM agents WHERE policy_id = ?');
    const latestRevisionStmt = db.prepare<[string], { r: number | null }>(
      'SELECT MAX(revision_idx) AS r FROM policy_revisions WHERE policy_id = ?',
    );
    const silentStmt = db.prepare<[string, string, number], Row>(
      `SELECT id, seq_no, doc FROM agents
       WHERE policy_id = ? AND active = 1 AND COALESCE(json_extract(doc, '$.last_checkin'), enrolled_at) < ?
       ORDER BY COALESCE(json_extract(doc, '$.last_checkin'), enrolled_at) ASC, id ASC LIMIT ?`,
    );
    const policyRecordStmt = db.prepare<[string], { doc: string }>('SELECT doc FROM agent_policies WHERE id = ?');
    /** The status of each agent at `now`, each policy's context read once. */
    const statusDeriver = (now: Date): ((doc: AgentDoc) => AgentStatus) => {
      const contexts = new Map<string, StatusContext>();
      return (doc) => {
        let ctx = contexts.get(doc.policy_id);
        if (!ctx) {
          const rev = latestRevisionStmt.get(doc.policy_id)?.r ?? undefined;
          const rec = policyRecordStmt.get(doc.policy_id);
          const inactivity = rec ? (JSON.parse(rec.doc) as AgentPolicyRecord).inactivity_timeout : undefined;
          ctx = { now, ...(rev !== undefined ? { latestPolicyRevision: rev } : {}), ...(inactivity !== undefined ? { inactivityTimeoutSeconds: inactivity } : {}) };
          contexts.set(doc.policy_id, ctx);
        }
        return deriveAgentStatus(doc, ctx);
      };
    };

    const params = (id: string, seq: number, doc: AgentDoc) => ({
      id,
      seq_no: seq,
      access_api_key_id: doc.access_api_key_id ?? null,
      enrollment_id: doc.enrollment_id ?? null,
      policy_id: doc.policy_id ?? null,
      active: doc.active ? 1 : 0,
      enrolled_at: doc.enrolled_at ?? null,
      doc: JSON.stringify(doc),
    });
    // Batched field writes (checkin status) set their fields in place. One statement per number of
    // fields, all prepared here from the fixed template; paths and values are bound parameters.
    const lastCheckinStmt = db.prepare<[string], { last_checkin: string | null }>(
      "SELECT json_extract(doc, '$.last_checkin') AS last_checkin FROM agents WHERE id = ?",
    );
    const patchStmts = Array.from({ length: FIELD_PATCH_MAX + 1 }, (_, n) =>
      n === 0 ? undefined : db.prepare(`UPDATE agents SET seq_no = ?, doc = json_set(doc${', ?, json(?)'.repeat(n)}) WHERE id = ?`),
    );
    const writeOver = (id: string, current: AgentDoc, fields: Partial<AgentDoc>): Hit<AgentDoc> => {
      const doc = { ...current, ...namedFields(fields) };
      const seq = this.nextSeq('agents');
      replaceStmt.run(params(id, seq, doc));
      return { _id: id, _seq_no: seq, _source: doc };
    };
    const write = (id: string, fields: Partial<AgentDoc>): Hit<AgentDoc> | undefined => {
      const row = getStmt.get(id);
      return row ? writeOver(id, JSON.parse(row.doc) as AgentDoc, fields) : undefined;
    };
    // Plain top-level fields are set in place (json_set: each replaced whole, null kept as null); the
    // document is neither parsed nor serialized here. No savepoint: the values are serialized
    // before any statement runs, and the one UPDATE is atomic. Undefined: not such a write.
    const writeInPlace = (u: BulkUpdate<AgentDoc>): BulkItemOutcome | undefined => {
      const fields = namedFields(u.fields);
      const entries = Object.entries(fields);
      if (entries.length > FIELD_PATCH_MAX || !entries.every(([k]) => PATCHABLE_KEY.test(k) && !COLUMN_KEYS.has(k))) return undefined;
      const patch = patchStmts[entries.length];
      if (!patch) return undefined;
      const args: unknown[] = [0];
      for (const [k, v] of entries) args.push(`$.${k}`, JSON.stringify(v));
      args.push(u.id);
      const stored = lastCheckinStmt.get(u.id);
      if (!stored) return 'not_found';
      // A late status write (retried, or from another replica) never replaces a newer one.
      if (supersededStatusWrite({ last_checkin: stored.last_checkin ?? undefined }, fields)) return 'updated';
      args[0] = this.nextSeq('agents');
      patch.run(...args);
      return 'updated';
    };
    // Anything else in its own savepoint: one that cannot be written (a document too deep to
    // serialize, say) is rejected alone, and the rest of the batch lands. Store-level failures
    // (disk full, I/O) still fail the whole batch, to be retried.
    const writeOne = db.transaction((u: BulkUpdate<AgentDoc>): BulkItemOutcome => {
      const row = getStmt.get(u.id);
      if (!row) return 'not_found';
      const current = JSON.parse(row.doc) as AgentDoc;
      if (supersededStatusWrite(current, u.fields)) return 'updated';
      writeOver(u.id, current, u.fields);
      return 'updated';
    });
    const updateManyTx = db.transaction((updates: BulkUpdate<AgentDoc>[]): BulkItemOutcome[] =>
      updates.map((u) => isolated(() => writeInPlace(u) ?? writeOne(u), 'rejected' as const)),
    );

    return {
      get: (id) => this.guard(() => {
        const row = getStmt.get(id);
        return row ? parse<AgentDoc>(row) : undefined;
      }),
      create: (id, doc) => this.groupCommit.run(() => {
        if (getStmt.get(id)) throw new DocumentConflictError('.fleet-agents', id);
        const seq = this.nextSeq('agents');
        insertStmt.run(params(id, seq, doc));
        return { _id: id, _seq_no: seq, _source: doc };
      }),
      // Single-agent writes (acks, reported policies, upgrades) share a commit with the others of
      // the same event-loop turn, each in its own savepoint: a rollout's acks are not one
      // transaction each.
      update: (id, fields) => this.groupCommit.run(() => {
        const hit = write(id, fields);
        if (!hit) throw new DocumentNotFoundError('.fleet-agents', id);
        return hit;
      }),
      mutate: (id, change) => this.groupCommit.run(() => {
        const row = getStmt.get(id);
        if (!row) throw new DocumentNotFoundError('.fleet-agents', id);
        const current = parse<AgentDoc>(row);
        const fields = change(current._source);
        return fields ? (write(id, fields) as Hit<AgentDoc>) : current;
      }),
      updateMany: (updates) => this.guard(() => (updates.length ? updateManyTx.immediate(updates) : [])),
      delete: (id) => this.guard(() => deleteStmt.run(id).changes > 0),
      findByAccessApiKeyId: (keyId) => this.guard(() => {
        const row = byKeyStmt.get(keyId);
        return row ? parse<AgentDoc>(row) : undefined;
      }),
      findByEnrollmentId: (enrollmentId) => this.guard(() => {
        const row = byEnrollmentStmt.get(enrollmentId);
        return row ? parse<AgentDoc>(row) : undefined;
      }),
      countByPolicy: (policyId) => this.guard(() => countByPolicyStmt.get(policyId)?.n ?? 0),
      listSilent: ({ policyId, before, limit }) =>
        this.guard(() => silentStmt.all(policyId, before.toISOString(), limit).map((r) => parse<AgentDoc>(r))),
      query: (q: AgentQuery) => this.guard((): Page<Hit<AgentDoc>> => {
        const { where, args } = scopeWhere(q);
        const sort = q.sort ?? DEFAULT_AGENT_SORT;
        const key = sortExpression(sort.field);
        const dir = sort.order === 'asc' ? 'ASC' : 'DESC';
        // Missing values last in both orders (as Elasticsearch), then the id.
        const order = `ORDER BY (${key}) IS NULL ASC, ${key} ${dir}, id ASC`;
        if (!q.statuses?.length) {
          const total = db.prepare<(string | number)[], { n: number }>(`SELECT COUNT(*) AS n FROM agents ${where}`).get(...args)?.n ?? 0;
          const rows = db
            .prepare<(string | number)[], Row>(`SELECT id, seq_no, doc FROM agents ${where} ${order} LIMIT ? OFFSET ?`)
            .all(...args, q.perPage, offset(q));
          return { total, items: rows.map((r) => parse<AgentDoc>(r)) };
        }
        // Status is derived (as Kibana derives it): filtered here, in the statement's order, from
        // the few fields the derivation reads; only the page's documents are read whole.
        const statuses = new Set(q.statuses);
        const statusOf = statusDeriver(q.now);
        const matching: string[] = [];
        for (const row of db.prepare<(string | number)[], StatusRow>(`SELECT ${STATUS_COLUMNS} FROM agents ${where} ${order}`).iterate(...args)) {
          if (statuses.has(statusOf(statusDoc(row)))) matching.push(row.id);
        }
        const items = matching
          .slice(offset(q), offset(q) + q.perPage)
          .map((id) => getStmt.get(id))
          .filter((row): row is Row => row !== undefined)
          .map((r) => parse<AgentDoc>(r));
        return { total: matching.length, items };
      }),
      countByStatus: (scope) => this.guard(() => {
        const { where, args } = scopeWhere(scope);
        const counts = zeroStatusCounts();
        const statusOf = statusDeriver(scope.now);
        // Only the fields the derivation reads, row by row: no document is parsed.
        const rows = db.prepare<(string | number)[], StatusRow>(`SELECT ${STATUS_COLUMNS} FROM agents ${where}`).iterate(...args);
        for (const row of rows) counts[statusOf(statusDoc(row))] += 1;
        return counts;
      }),
      distinctTags: (scope) => this.guard(() => {
        const { where, args } = scopeWhere(scope);
        return db
          .prepare<(string | number)[], { tag: string }>(
            `SELECT DISTINCT t.value AS tag FROM agents, json_each(agents.doc, '$.tags') t ${where}
             ${where ? 'AND' : 'WHERE'} t.type = 'text' ORDER BY tag ASC LIMIT ?`,
          )
          .all(...args, scope.limit)
          .map((r) => r.tag);
      }),
    };
  }

  // ---- policies -----------------------------------------------------------------------------

  private createPolicyStore(): PolicyRevisionStore {
    const db = this.db;
    const insert = db.prepare(
      'INSERT INTO policy_revisions (id, seq_no, policy_id, revision_idx, doc) VALUES (?, ?, ?, ?, ?)',
    );
    const exists = db.prepare<[string], { id: string }>('SELECT id FROM policy_revisions WHERE id = ?');
    const latest = db.prepare<[string], Row>(
      'SELECT id, seq_no, doc FROM policy_revisions WHERE policy_id = ? ORDER BY revision_idx DESC LIMIT 1',
    );
    const since = db.prepare<[number, number], Row>(
      'SELECT id, seq_no, doc FROM policy_revisions WHERE seq_no > ? ORDER BY seq_no ASC LIMIT ?',
    );
    const countOf = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM policy_revisions WHERE policy_id = ?');
    const pageOf = db.prepare<[string, number, number], Row>(
      'SELECT id, seq_no, doc FROM policy_revisions WHERE policy_id = ? ORDER BY revision_idx DESC LIMIT ? OFFSET ?',
    );
    const byId = db.prepare<[string], Row>('SELECT id, seq_no, doc FROM policy_revisions WHERE id = ?');
    const checkpoint = db.prepare<[], { value: number }>("SELECT value FROM sequences WHERE name = 'policies'");
    return {
      create: (doc) => this.guard(() => {
        const hit = db.transaction(() => {
          const id = policyRevisionDocId(doc.policy_id, doc.revision_idx);
          if (exists.get(id)) throw new DocumentConflictError('.fleet-policies', id);
          const seq = this.nextSeq('policies');
          insert.run(id, seq, doc.policy_id, doc.revision_idx, JSON.stringify(doc));
          return { _id: id, _seq_no: seq, _source: doc };
        }).immediate();
        return hit;
      }),
      latest: (policyId) => this.guard(() => {
        const row = latest.get(policyId);
        return row ? parse<PolicyRevisionDoc>(row) : undefined;
      }),
      list: (policyId, req) => this.guard(() => ({
        total: countOf.get(policyId)?.n ?? 0,
        items: pageOf.all(policyId, req.perPage, offset(req)).map((r) => parse<PolicyRevisionDoc>(r)),
      })),
      get: (policyId, revisionIdx) => this.guard(() => {
        const row = byId.get(policyRevisionDocId(policyId, revisionIdx));
        return row ? parse<PolicyRevisionDoc>(row) : undefined;
      }),
      changesSince: (after, limit) => this.guard(() => since.all(after, limit).map((r) => parse<PolicyRevisionDoc>(r))),
      checkpoint: () => this.guard(() => checkpoint.get()?.value ?? 0),
    };
  }

  // ---- actions ------------------------------------------------------------------------------

  private createActionStore(): ActionStore {
    const db = this.db;
    const insert = db.prepare('INSERT INTO actions (id, seq_no, action_id, expiration_ms, doc) VALUES (?, ?, ?, ?, ?)');
    const insertTarget = db.prepare('INSERT OR IGNORE INTO action_targets (agent_id, seq_no) VALUES (?, ?)');
    const get = db.prepare<[string], Row>('SELECT id, seq_no, doc FROM actions WHERE id = ?');
    const byActionId = db.prepare<[string], Row>(
      'SELECT id, seq_no, doc FROM actions WHERE action_id = ? ORDER BY seq_no ASC LIMIT 1',
    );
    const forAgent = db.prepare<[string, string], Row>(
      `SELECT a.id, a.seq_no, a.doc FROM actions a JOIN action_targets t ON t.seq_no = a.seq_no AND t.agent_id = ?
       WHERE a.action_id = ? ORDER BY a.seq_no ASC LIMIT 1`,
    );
    const pending = db.prepare<[string, number, number, number, number], Row>(
      `SELECT a.id, a.seq_no, a.doc FROM action_targets t JOIN actions a ON a.seq_no = t.seq_no
       WHERE t.agent_id = ? AND t.seq_no > ? AND t.seq_no <= ? AND a.expiration_ms > ?
       ORDER BY t.seq_no ASC LIMIT ?`,
    );
    const since = db.prepare<[number, number], Row>(
      'SELECT id, seq_no, doc FROM actions WHERE seq_no > ? ORDER BY seq_no ASC LIMIT ?',
    );
    const countForAgent = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM action_targets WHERE agent_id = ?');
    const listForAgent = db.prepare<[string, number], Row>(
      `SELECT a.id, a.seq_no, a.doc FROM action_targets t JOIN actions a ON a.seq_no = t.seq_no
       WHERE t.agent_id = ? ORDER BY t.seq_no DESC LIMIT ?`,
    );
    const checkpoint = db.prepare<[], { value: number }>("SELECT value FROM sequences WHERE name = 'actions'");
    const expiredSeqs = db.prepare<[number], { seq_no: number }>(
      'SELECT seq_no FROM actions WHERE expiration_ms IS NOT NULL AND expiration_ms < ?',
    );
    const deleteTargets = db.prepare('DELETE FROM action_targets WHERE seq_no = ?');
    const deleteAction = db.prepare('DELETE FROM actions WHERE seq_no = ?');
    const currentCheckpoint = (): number => checkpoint.get()?.value ?? 0;

    return {
      create: (doc, id) => this.guard(() => {
        const hit = db.transaction(() => {
          const docId = id ?? newId();
          if (get.get(docId)) throw new DocumentConflictError('.fleet-actions', docId);
          const seq = this.nextSeq('actions');
          insert.run(docId, seq, doc.action_id, expirationMs(doc), JSON.stringify(doc));
          for (const agentId of doc.agents ?? []) insertTarget.run(agentId, seq);
          return { _id: docId, _seq_no: seq, _source: doc };
        }).immediate();
        return hit;
      }),
      get: (docId) => this.guard(() => {
        const row = get.get(docId);
        return row ? parse<ActionDoc>(row) : undefined;
      }),
      findByActionId: (actionId) => this.guard(() => {
        const row = byActionId.get(actionId);
        return row ? parse<ActionDoc>(row) : undefined;
      }),
      findForAgent: (actionId, agentId) => this.guard(() => {
        const row = forAgent.get(agentId, actionId);
        return row ? parse<ActionDoc>(row) : undefined;
      }),
      listForAgent: ({ agentId, limit }) => this.guard(() => ({
        total: countForAgent.get(agentId)?.n ?? 0,
        items: listForAgent.all(agentId, limit).map((r) => parse<ActionDoc>(r)),
      })),
      pendingFor: (q: PendingActionQuery) => this.guard(() =>
        pending
          .all(q.agentId, q.afterSeqNo, q.maxSeqNo ?? currentCheckpoint(), q.now.getTime(), q.limit)
          .map((r) => parse<ActionDoc>(r)),
      ),
      changesSince: (after, limit) => this.guard(() => since.all(after, limit).map((r) => parse<ActionDoc>(r))),
      checkpoint: () => this.guard(currentCheckpoint),
      // Commits are visible at once in SQLite.
      awaitVisible: () => this.guard(() => undefined),
      deleteExpiredBefore: (before) => this.guard(() => db.transaction(() => {
        const seqs = expiredSeqs.all(before.getTime());
        for (const { seq_no } of seqs) {
          deleteTargets.run(seq_no);
          deleteAction.run(seq_no);
        }
        return seqs.length;
      }).immediate()),
    };
  }

  // ---- action results -----------------------------------------------------------------------

  private createActionResultStore(): ActionResultStore {
    const db = this.db;
    const insert = db.prepare('INSERT OR IGNORE INTO action_results (id, seq_no, action_id, doc) VALUES (?, ?, ?, ?)');
    const exists = db.prepare<[string], { id: string }>('SELECT id FROM action_results WHERE id = ?');
    const byId = db.prepare<[string], Row>('SELECT id, seq_no, doc FROM action_results WHERE id = ?');
    const byAction = db.prepare<[string], Row>(
      'SELECT id, seq_no, doc FROM action_results WHERE action_id = ? ORDER BY seq_no ASC',
    );
    const createOne = db.transaction((doc: ActionResultDoc): ResultOutcome => {
      const id = `${doc.action_id}:${doc.agent_id}`;
      if (exists.get(id)) return 'exists';
      insert.run(id, this.nextSeq('action_results'), doc.action_id, JSON.stringify(doc));
      return 'created';
    });
    // One savepoint per result, as in updateMany: a bad one is rejected alone.
    const createMany = db.transaction((docs: ActionResultDoc[]): ResultOutcome[] =>
      docs.map((doc) => isolated(() => createOne(doc), 'rejected' as const)),
    );
    return {
      createMany: (docs) => this.guard(() => (docs.length ? createMany.immediate(docs) : [])),
      listByActionId: (actionId) => this.guard(() => byAction.all(actionId).map((r) => parse<ActionResultDoc>(r))),
      acknowledgedBy: (agentId, actionIds) =>
        this.guard(() => new Set(actionIds.filter((actionId) => exists.get(`${actionId}:${agentId}`) !== undefined))),
      resultsOf: (agentId, actionIds) =>
        this.guard(() =>
          actionIds.flatMap((actionId) => {
            const row = byId.get(`${actionId}:${agentId}`);
            return row ? [parse<ActionResultDoc>(row)] : [];
          }),
        ),
    };
  }

  // ---- enrollment keys ----------------------------------------------------------------------

  private createEnrollmentKeyStore(): EnrollmentKeyStore {
    const db = this.db;
    const get = db.prepare<[string], Row>('SELECT id, seq_no, doc FROM enrollment_keys WHERE id = ?');
    const insert = db.prepare(
      `INSERT INTO enrollment_keys (id, seq_no, api_key_id, policy_id, active, created_at, doc)
       VALUES (@id, @seq_no, @api_key_id, @policy_id, @active, @created_at, @doc)`,
    );
    const replace = db.prepare(
      `UPDATE enrollment_keys SET seq_no = @seq_no, api_key_id = @api_key_id, policy_id = @policy_id,
       active = @active, created_at = @created_at, doc = @doc WHERE id = @id`,
    );
    const byKey = db.prepare<[string], Row>(
      'SELECT id, seq_no, doc FROM enrollment_keys WHERE api_key_id = ? AND active = 1 LIMIT 2',
    );
    const params = (id: string, seq: number, doc: EnrollmentApiKeyDoc) => ({
      id,
      seq_no: seq,
      api_key_id: doc.api_key_id,
      policy_id: doc.policy_id,
      active: doc.active ? 1 : 0,
      created_at: doc.created_at,
      doc: JSON.stringify(doc),
    });
    return {
      create: (id, doc) => this.guard(() => db.transaction(() => {
        if (get.get(id)) throw new DocumentConflictError('.fleet-enrollment-api-keys', id);
        const seq = this.nextSeq('enrollment_keys');
        insert.run(params(id, seq, doc));
        return { _id: id, _seq_no: seq, _source: doc };
      }).immediate()),
      get: (id) => this.guard(() => {
        const row = get.get(id);
        return row ? parse<EnrollmentApiKeyDoc>(row) : undefined;
      }),
      update: (id, fields) => this.guard(() => db.transaction(() => {
        const row = get.get(id);
        if (!row) throw new DocumentNotFoundError('.fleet-enrollment-api-keys', id);
        const doc = { ...(JSON.parse(row.doc) as EnrollmentApiKeyDoc), ...namedFields(fields) };
        const seq = this.nextSeq('enrollment_keys');
        replace.run(params(id, seq, doc));
        return { _id: id, _seq_no: seq, _source: doc };
      }).immediate()),
      findActiveByApiKeyId: (apiKeyId) => this.guard(() => {
        const rows = byKey.all(apiKeyId);
        // The reference requires exactly one active record for a key id.
        return rows.length === 1 && rows[0] ? parse<EnrollmentApiKeyDoc>(rows[0]) : undefined;
      }),
      list: (req) => this.guard(() => {
        const filter = req.policyId ? 'WHERE policy_id = ?' : '';
        const args = req.policyId ? [req.policyId] : [];
        const total = db.prepare<string[], { n: number }>(`SELECT COUNT(*) AS n FROM enrollment_keys ${filter}`).get(...args)?.n ?? 0;
        const rows = db
          .prepare<(string | number)[], Row>(
            `SELECT id, seq_no, doc FROM enrollment_keys ${filter} ORDER BY created_at DESC, id ASC LIMIT ? OFFSET ?`,
          )
          .all(...args, req.perPage, offset(req));
        return { total, items: rows.map((r) => parse<EnrollmentApiKeyDoc>(r)) };
      }),
    };
  }

  // ---- credential store ---------------------------------------------------------------------

  /** The health documents of one output, newest first (what Kibana would read from the data stream). */
  outputHealthOf(output: string, limit = 100): OutputHealthDoc[] {
    return readSqliteOutputHealth(this.db, output, limit);
  }

  private createCredentialStore(): CredentialStore {
    const db = this.db;
    const get = db.prepare<[string], { doc: string }>('SELECT doc FROM api_keys WHERE id = ?');
    const insert = db.prepare('INSERT INTO api_keys (id, doc) VALUES (?, ?)');
    const replace = db.prepare('UPDATE api_keys SET doc = ? WHERE id = ?');
    const record = (id: string): ApiKeyRecord | undefined => {
      const row = get.get(id);
      return row ? (JSON.parse(row.doc) as ApiKeyRecord) : undefined;
    };
    const invalidate = db.transaction((ids: string[]): string[] => {
      const now = new Date().toISOString();
      const changed: string[] = [];
      for (const id of ids) {
        const rec = record(id);
        if (!rec || rec.invalidated) continue;
        replace.run(JSON.stringify({ ...rec, invalidated: true, invalidated_at: now }), id);
        changed.push(id);
      }
      return changed;
    });
    return {
      kind: 'builtin',
      create: (request) => this.groupCommit.run(() => {
        const { record: rec, ...key } = issueBuiltinApiKey(request.name, request.metadata);
        insert.run(rec.id, JSON.stringify(rec));
        return { ...apiKeyInfo(rec), secret: key.secret, token: key.token };
      }),
      verify: (id, secret) => this.guard(() => {
        const rec = record(id);
        return rec && verifyApiKeySecret(secret, rec.hash) ? apiKeyInfo(rec) : undefined;
      }),
      get: (id) => this.guard(() => {
        const rec = record(id);
        return rec ? apiKeyInfo(rec) : undefined;
      }),
      invalidate: (ids) => this.guard(() => invalidate.immediate(ids)),
      updateRoles: () => this.guard(() => undefined),
    };
  }

  // ---- agent policy records -----------------------------------------------------------------

  private createAgentPolicyStore(): AgentPolicyStore {
    const db = this.db;
    const get = db.prepare<[string], { doc: string }>('SELECT doc FROM agent_policies WHERE id = ?');
    const insert = db.prepare('INSERT INTO agent_policies (id, created_at, doc) VALUES (?, ?, ?)');
    // Compare-and-set on the revision the caller read (the record's own `revision` field).
    const replace = db.prepare("UPDATE agent_policies SET doc = ? WHERE id = ? AND json_extract(doc, '$.revision') = ?");
    const del = db.prepare('DELETE FROM agent_policies WHERE id = ?');
    const delAt = db.prepare("DELETE FROM agent_policies WHERE id = ? AND json_extract(doc, '$.revision') = ?");
    const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM agent_policies');
    const page = db.prepare<[number, number], { doc: string }>(
      'SELECT doc FROM agent_policies ORDER BY created_at ASC, id ASC LIMIT ? OFFSET ?',
    );
    return {
      create: (record) => this.guard(() => {
        if (get.get(record.id)) throw new DocumentConflictError('agent_policies', record.id);
        insert.run(record.id, record.created_at, JSON.stringify(record));
        return record;
      }),
      get: (id) => this.guard(() => {
        const row = get.get(id);
        return row ? (JSON.parse(row.doc) as AgentPolicyRecord) : undefined;
      }),
      put: (record, expectedRevision) => this.guard(() => {
        if (replace.run(JSON.stringify(record), record.id, expectedRevision).changes === 0) {
          if (get.get(record.id)) throw new DocumentConflictError('agent_policies', record.id);
          throw new DocumentNotFoundError('agent_policies', record.id);
        }
        return record;
      }),
      list: (req) => this.guard(() => ({
        total: count.get()?.n ?? 0,
        items: page.all(req.perPage, offset(req)).map((r) => JSON.parse(r.doc) as AgentPolicyRecord),
      })),
      delete: (id, expectedRevision) =>
        this.guard(() => (expectedRevision === undefined ? del.run(id) : delAt.run(id, expectedRevision)).changes > 0),
    };
  }
}

/**
 * Runs one item of a batch (inside the batch's transaction, in its own savepoint). A failure of
 * the item alone gives `rejected`; a store-level failure is rethrown to fail the batch.
 */
function isolated<T, R>(fn: () => T, rejected: R): T | R {
  try {
    return fn();
  } catch (err) {
    const code = sqliteCode(err);
    if (code && STORE_FAULT.test(code)) throw err;
    return rejected;
  }
}

/** Not ready while the store's file system has less than `minFree` bytes available. */
function checkFreeSpace(dir: string, minFree: number): void {
  const fs = statfsSync(dir);
  const available = fs.bavail * fs.bsize;
  if (available < minFree) {
    throw new StoreUnavailableError(`the embedded store's file system has ${available} bytes free (less than ${minFree}): free some space`);
  }
}

/** Why the file could not be opened, in words an operator can act on. */
function openFailure(path: string, err: unknown): Error {
  const code = sqliteCode(err);
  if (code && STORE_DAMAGED.test(code)) {
    return new StoreCorruptError(`${path} is not a readable SQLite database (${code}): restore it from a backup`, { cause: err });
  }
  return new StoreUnavailableError(`cannot open the embedded store ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** The database, its WAL and shared-memory files: mode 0600 (SQLite creates them 0644). */
function restrictFiles(path: string): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}
