import type { OutputKeyCluster } from './output-key-cluster';
import { AGENT_SORT_FIELDS } from '@fleet/management-api';
import type {
  ActionDoc,
  ActionResultDoc,
  AgentDoc,
  AgentPolicyRecord,
  EnrollmentApiKeyDoc,
  Hit,
  JsonObject,
  PolicyRevisionDoc,
} from './documents';
import type { AgentStatus } from './agent-status';
import type { ArtifactStore, DeliveryFileStore } from './delivery-port';
import type { FileUploadStore } from './upload-store';
import type { AuditStore, ManagementKeyStore } from './management-store';
import type { RolloutStore } from './rollout-store';
import type { FleetServerStore } from './fleet-server-store';
import type { SecretStore } from './secret-store';
import type { OutputHealthStore } from './output-health';
import type { ConsoleSessionStore } from './console-session-store';

/**
 * The store port: every service reaches the `.fleet-*` documents through it, whatever the backend
 * (embedded SQLite or Elasticsearch). Semantics every backend must honour (and the contract suite
 * checks):
 * - `_seq_no` is assigned on every write, is strictly increasing per collection, and a reader that
 *   sees `_seq_no = n` also sees every write with a smaller number (no holes below the checkpoint).
 * - `update` replaces the named top-level fields; `null` stores null; other fields are untouched.
 * - `create` fails with `DocumentConflictError` if the id exists; `update`/`mutate` fail with
 *   `DocumentNotFoundError` if it does not.
 */
export interface FleetStore {
  readonly backend: 'sqlite' | 'elasticsearch';
  readonly agents: AgentStore;
  readonly policies: PolicyRevisionStore;
  readonly actions: ActionStore;
  readonly actionResults: ActionResultStore;
  readonly enrollmentKeys: EnrollmentKeyStore;
  /** API keys of agents and enrollment tokens: issued, verified and revoked here. */
  readonly credentials: CredentialStore;
  /**
   * With built-in credentials: the cluster where `elasticsearch` outputs' per-agent keys are made
   * (configured; see `outputKeyTarget`). Closed with the store.
   */
  readonly outputKeyCluster?: OutputKeyCluster | undefined;
  readonly agentPolicies: AgentPolicyStore;
  /** Files delivered to agents (`.fleet-fileds-tohost-*` and integration libraries). */
  readonly deliveryFiles: DeliveryFileStore;
  /** `.fleet-artifacts` (Elastic Defend artifacts). */
  readonly artifacts: ArtifactStore;
  /** Files uploaded by agents (diagnostics bundles): meta documents and their chunks. */
  readonly uploads: FileUploadStore;
  /** Which install this store belongs to (see `StoreIdentity`). */
  readonly identity: StoreIdentity;
  /** Management API keys (scoped, hashed bearer tokens of `/api/fleet/...`). */
  readonly managementKeys: ManagementKeyStore;
  /** The append-only audit trail of mutating management calls. */
  readonly audit: AuditStore;
  /** Where a policy revision or an action stands across its agents (the console's rollout progress). */
  readonly rollouts: RolloutStore;
  /** `.fleet-servers`: one heartbeat document per running server, for older Kibana releases. */
  readonly fleetServers: FleetServerStore;
  /** Secrets of agent policies (`.fleet-secrets`), resolved at delivery: never shown by any read API. */
  readonly secrets: SecretStore;
  /** Health documents of outputs (`logs-fleet_server.output_health-default`), written on state changes. */
  readonly outputHealth: OutputHealthStore;
  /** Console sessions that were signed out, kept until they would have expired. */
  readonly consoleSessions: ConsoleSessionStore;
  /** Resolves when the backend answers; rejects with `StoreUnavailableError` otherwise. */
  ping(): Promise<void>;
  /** Writes accepted but not yet confirmed by the backend (0 where writes are synchronous). */
  pendingWrites(): number;
  /** Registers a listener for every grouped write sent to the backend (metrics); returns an unsubscribe. */
  onBulkWrite(listener: BulkWriteListener): () => void;
  /** Idempotent. */
  close(): Promise<void>;
}

export type WatchedCollection = 'policies' | 'actions';

/**
 * A store's identity: an id recorded once, at the first start, and kept beside the data directory's
 * token files. A store without one was never started; an empty store whose data directory names
 * one has lost its data, and is not bootstrapped over.
 */
export interface StoreIdentity {
  /** The recorded id, or undefined. */
  get(): Promise<string | undefined>;
  /** Records `id` unless an id is recorded already (another replica was first); returns the recorded id. */
  claim(id: string): Promise<string>;
}

/** One grouped write request: its duration, its operations, and whether the request failed as a whole. */
export type BulkWriteListener = (e: { seconds: number; operations: number; ok: boolean }) => void;

export interface Page<T> {
  items: T[];
  total: number;
}

export interface PageRequest {
  page: number;
  perPage: number;
}

/** Fields the agent list sorts on (keyword or date in the `.fleet-agents` mapping): the API's contract owns them. */
export { AGENT_SORT_FIELDS };
export type AgentSortField = (typeof AGENT_SORT_FIELDS)[number];

/** Agents without the field sort last in both orders; ties are broken by agent id, ascending. */
export interface AgentSort {
  field: AgentSortField;
  order: 'asc' | 'desc';
}

export interface AgentQuery extends PageRequest {
  policyIds?: string[];
  statuses?: AgentStatus[];
  tags?: string[];
  /** Include inactive (unenrolled) agents; default false. */
  showInactive?: boolean;
  /** Evaluation time for derived status. */
  now: Date;
  /** Default: `enrolled_at` descending. */
  sort?: AgentSort;
}

/** Which agents a count or a tag listing covers (every agent, inactive ones included, by default). */
export interface AgentScope {
  policyIds?: string[];
  tags?: string[];
  showInactive?: boolean;
}

export interface BulkUpdate<T> {
  id: string;
  fields: Partial<T>;
}

/** `rejected`: the backend refused the item for good (e.g. a mapping conflict); it is not retried. */
export type BulkItemOutcome = 'updated' | 'not_found' | 'rejected';

/**
 * `searchable: false`: the writer reads the document back by id only (a realtime read), so the
 * backend may answer before searches see it. Elasticsearch then writes through the bulk writer,
 * without a refresh; the default waits until searches see the write.
 */
export interface CreateOptions {
  searchable?: boolean;
}

export interface AgentStore {
  get(id: string): Promise<Hit<AgentDoc> | undefined>;
  create(id: string, doc: AgentDoc, opts?: CreateOptions): Promise<Hit<AgentDoc>>;
  update(id: string, fields: Partial<AgentDoc>): Promise<Hit<AgentDoc>>;
  /**
   * Read-modify-write with optimistic concurrency (`retry_on_conflict` semantics): `change` sees the
   * current document and returns the fields to set, or `undefined` to leave it as it is.
   */
  mutate(id: string, change: (doc: AgentDoc) => Partial<AgentDoc> | undefined): Promise<Hit<AgentDoc>>;
  /** One batched write; each item reports its own outcome. */
  updateMany(updates: BulkUpdate<AgentDoc>[]): Promise<BulkItemOutcome[]>;
  delete(id: string): Promise<boolean>;
  findByAccessApiKeyId(apiKeyId: string): Promise<Hit<AgentDoc> | undefined>;
  findByEnrollmentId(enrollmentId: string): Promise<Hit<AgentDoc> | undefined>;
  query(query: AgentQuery): Promise<Page<Hit<AgentDoc>>>;
  countByPolicy(policyId: string): Promise<number>;
  /**
   * How many agents of the scope have each derived status at `now` (the same derivation as
   * `deriveAgentStatus`, with each policy's latest revision and inactivity timeout), counted by
   * the backend without reading the documents out.
   */
  countByStatus(scope: AgentScope & { now: Date }): Promise<Record<AgentStatus, number>>;
  /** The distinct tags of the scope's agents, sorted, at most `limit`. */
  distinctTags(scope: AgentScope & { limit: number }): Promise<string[]>;
  /**
   * Active agents of the policy whose last checkin (their enrollment, if they never checked in)
   * is before `before`, oldest first, at most `limit`.
   */
  listSilent(query: { policyId: string; before: Date; limit: number }): Promise<Hit<AgentDoc>[]>;
}

export interface PolicyRevisionStore {
  /** Writes a revision with `_id = uuidv5("<policy_id>:<revision_idx>")`; conflict if it exists. */
  create(doc: PolicyRevisionDoc): Promise<Hit<PolicyRevisionDoc>>;
  latest(policyId: string): Promise<Hit<PolicyRevisionDoc> | undefined>;
  /** The policy's revisions, newest (highest `revision_idx`) first. */
  list(policyId: string, page: PageRequest): Promise<Page<Hit<PolicyRevisionDoc>>>;
  /** One revision of the policy, read by id (realtime). */
  get(policyId: string, revisionIdx: number): Promise<Hit<PolicyRevisionDoc> | undefined>;
  /** Documents with `_seq_no` in (afterSeqNo, checkpoint], ascending, at most `limit`. */
  changesSince(afterSeqNo: number, limit: number): Promise<Hit<PolicyRevisionDoc>[]>;
  checkpoint(): Promise<number>;
}

export interface PendingActionQuery {
  agentId: string;
  afterSeqNo: number;
  /** Upper bound (inclusive); defaults to the current checkpoint. */
  maxSeqNo?: number;
  now: Date;
  limit: number;
}

export interface ActionStore {
  create(doc: ActionDoc, id?: string): Promise<Hit<ActionDoc>>;
  get(docId: string): Promise<Hit<ActionDoc> | undefined>;
  /** The first document (lowest `_seq_no`) carrying this `action_id`. */
  findByActionId(actionId: string): Promise<Hit<ActionDoc> | undefined>;
  /**
   * The first document carrying this `action_id` that is addressed to `agentId` (an action may be
   * split over several documents, each with its own agents), or undefined.
   */
  findForAgent(actionId: string, agentId: string): Promise<Hit<ActionDoc> | undefined>;
  /**
   * Actions addressed to the agent, expired ones included, newest (highest `_seq_no`) first, at
   * most `limit`; `total` counts them all.
   */
  listForAgent(query: { agentId: string; limit: number }): Promise<Page<Hit<ActionDoc>>>;
  /** Unexpired actions addressed to the agent with `_seq_no` in (afterSeqNo, maxSeqNo]. */
  pendingFor(query: PendingActionQuery): Promise<Hit<ActionDoc>[]>;
  changesSince(afterSeqNo: number, limit: number): Promise<Hit<ActionDoc>[]>;
  checkpoint(): Promise<number>;
  /**
   * Resolves once every action with `_seq_no` ≤ `seqNo` is visible to `pendingFor` (bounded wait;
   * resolves regardless when the time is up). Used before waking agents for a notified action.
   */
  awaitVisible(seqNo: number): Promise<void>;
  /** Deletes actions whose expiration is before `before`; returns how many. */
  deleteExpiredBefore(before: Date): Promise<number>;
}

/** `rejected`: this one result could not be stored (the others of its batch were). */
export type ResultOutcome = 'created' | 'exists' | 'rejected';

export interface ActionResultStore {
  /** Create-only, id `<action_id>:<agent_id>`; an existing id reports `exists` (idempotent). */
  createMany(docs: ActionResultDoc[]): Promise<ResultOutcome[]>;
  listByActionId(actionId: string): Promise<Hit<ActionResultDoc>[]>;
  /**
   * Which of `actionIds` the agent has acknowledged (a result `<action_id>:<agent_id>` exists).
   * May lag a just-written result by the backend's refresh interval, unless `fresh` asks for
   * every result written so far (at a cost: Elasticsearch refreshes the index first).
   */
  acknowledgedBy(agentId: string, actionIds: string[], opts?: { fresh?: boolean }): Promise<Set<string>>;
  /** The agent's results of these actions (ids `<action_id>:<agent_id>`), every one written so far. */
  resultsOf(agentId: string, actionIds: string[]): Promise<Hit<ActionResultDoc>[]>;
}

export interface EnrollmentKeyStore {
  create(id: string, doc: EnrollmentApiKeyDoc): Promise<Hit<EnrollmentApiKeyDoc>>;
  get(id: string): Promise<Hit<EnrollmentApiKeyDoc> | undefined>;
  update(id: string, fields: Partial<EnrollmentApiKeyDoc>): Promise<Hit<EnrollmentApiKeyDoc>>;
  findActiveByApiKeyId(apiKeyId: string): Promise<Hit<EnrollmentApiKeyDoc> | undefined>;
  list(request: PageRequest & { policyId?: string }): Promise<Page<Hit<EnrollmentApiKeyDoc>>>;
}

/** What the store knows of an API key; never its secret. */
export interface ApiKeyInfo {
  id: string;
  name: string;
  metadata: JsonObject;
  invalidated: boolean;
}

/** A newly issued key: the only moment its secret exists outside the agent. */
export interface IssuedApiKey extends ApiKeyInfo {
  secret: string;
  /** `base64(id:secret)`, what goes into `Authorization: ApiKey <token>`. */
  token: string;
}

export interface CreateApiKeyRequest {
  name: string;
  metadata: JsonObject;
  /** Privileges of the key (Elasticsearch role descriptors); the built-in store ignores them. */
  roleDescriptors?: JsonObject;
}

/**
 * API keys (Elasticsearch's `_security/api_key` when security is on; a built-in store of salted
 * hashes otherwise). Secrets are never stored in clear and are compared in constant time.
 */
export interface CredentialStore {
  readonly kind: 'builtin' | 'elasticsearch';
  create(request: CreateApiKeyRequest): Promise<IssuedApiKey>;
  /** The key if `secret` is its secret; undefined otherwise. A revoked key is undefined or flagged `invalidated`, never valid. */
  verify(id: string, secret: string): Promise<ApiKeyInfo | undefined>;
  get(id: string): Promise<ApiKeyInfo | undefined>;
  /** Revokes keys; returns the ids that were valid before. */
  invalidate(ids: string[]): Promise<string[]>;
  /** Replaces a key's privileges (Elasticsearch role descriptors); the built-in store has none to change. */
  updateRoles(id: string, roleDescriptors: JsonObject): Promise<void>;
}

export interface AgentPolicyStore {
  create(record: AgentPolicyRecord): Promise<AgentPolicyRecord>;
  get(id: string): Promise<AgentPolicyRecord | undefined>;
  /**
   * Replaces the record, compare-and-set: only if the stored one is still at `expectedRevision`
   * (the revision the caller read; it has bumped `revision` since). `DocumentConflictError` if it
   * is not, `DocumentNotFoundError` if there is none: two replicas never both write revision N+1.
   */
  put(record: AgentPolicyRecord, expectedRevision: number): Promise<AgentPolicyRecord>;
  list(request: PageRequest): Promise<Page<AgentPolicyRecord>>;
  /** False if there is none, or (given `expectedRevision`) if the stored one is at another revision. */
  delete(id: string, expectedRevision?: number): Promise<boolean>;
}
