import type { OutputKeyCluster } from '../output-key-cluster';
import { ActionSealer, withSealedSecrets } from '../action-secrets';
import type { Client } from '@elastic/elasticsearch';
import type { estypes } from '@elastic/elasticsearch';
import { randomUUID } from 'node:crypto';
import { deriveAgentStatus, zeroStatusCounts, type AgentStatus, type StatusContext } from '../agent-status';
import { compareAgents, DEFAULT_AGENT_SORT } from '../agent-sort';
import { statusFilters, statusOfKey } from './es-agent-status';
import { supersededStatusWrite } from '../checkin-order';
import { statusContexts } from '../status-context';
import type {
  ActionDoc,
  ActionResultDoc,
  AgentDoc,
  AgentPolicyRecord,
  EnrollmentApiKeyDoc,
  Hit,
  PolicyRevisionDoc,
} from '../documents';
import { DocumentConflictError, DocumentNotFoundError, StoreUnavailableError } from '../errors';
import { policyRevisionDocId } from '../secrets';
import type {
  ActionResultStore,
  ActionStore,
  AgentPolicyStore,
  AgentQuery,
  AgentScope,
  AgentSortField,
  AgentStore,
  BulkItemOutcome,
  CredentialStore,
  EnrollmentKeyStore,
  FleetStore,
  Page,
  PolicyRevisionStore,
  StoreIdentity,
  WatchedCollection,
  BulkWriteListener,
} from '../store-port';
import { BuiltinEsCredentials, SecurityApiCredentials } from './es-credentials';
import { call, createClient, errorType, statusOf, translate, type ElasticsearchConnection } from './es-client';
import { DEFAULT_BULKER, EsBulker, type BulkerOptions, type BulkOp } from './es-bulker';
import { createEsFleetServerStore } from './es-fleet-servers';
import type { FleetServerStore } from '../fleet-server-store';
import type { OutputHealthStore } from '../output-health';
import { createEsOutputHealthStore } from './es-output-health';
import { createEsConsoleSessionStore } from './es-console-sessions';
import type { ConsoleSessionStore } from '../console-session-store';
import { ES_INDICES, INDEX_SETTINGS, type IndexDefinition } from './es-indices';
import { SeqNoFeed } from './seq-no-feed';
import { GuardedWriter } from './es-guarded-writer';
import { SharedRefresh } from './es-shared-refresh';
import { createEsDeliveryStores } from './es-delivery';
import type { ArtifactStore, DeliveryFileStore } from '../delivery-port';
import type { FileUploadStore } from '../upload-store';
import { createEsUploadStore } from './es-upload-store';
import type { AuditStore, ManagementKeyStore } from '../management-store';
import { createEsManagementStores } from './es-management-store';
import type { RolloutStore } from '../rollout-store';
import { createEsRolloutStore } from './es-rollout-store';
import type { SecretStore } from '../secret-store';
import { createEsSecretStore } from './es-secret-store';

export interface ElasticsearchStoreOptions extends ElasticsearchConnection {
  /** `auto`: Elasticsearch API keys when security is on, else the built-in store. */
  credentials?: 'auto' | 'elasticsearch' | 'builtin';
  /** Reuse a `_seq_no` visibility check on hot paths for at most this long. */
  visibilityReuseMs?: number;
  bulker?: Partial<BulkerOptions>;
  /** Seals action secrets at rest with this key (see action-secrets.ts); every replica needs the same one. */
  actionSecretsKey?: Buffer;
  /** With built-in credentials: where output keys are made (see `outputKeyTarget`). */
  outputKeyCluster?: OutputKeyCluster;
}

/** What the backend found at start, reported in the logs. */
export interface ElasticsearchCapabilities {
  version: string;
  security: boolean;
  fleetModule: boolean;
  credentials: 'elasticsearch' | 'builtin';
}

const CONFLICT_RETRIES = 40;
/** Jittered pause between optimistic-concurrency retries, so racing writers spread out. */
const backoff = (attempt: number) => new Promise<void>((r) => setTimeout(r, Math.random() * Math.min(50, 2 * (attempt + 1))));
const SCAN_PAGE = 1000;
/** Policies a status count distinguishes (one clause each in the status filters). */
const MAX_STATUS_POLICIES = 1000;
/** The mapping type of each sort field (for `unmapped_type`, before the index has a mapping for it). */
const SORT_TYPES: Record<AgentSortField, 'date' | 'keyword'> = {
  enrolled_at: 'date',
  last_checkin: 'date',
  'local_metadata.host.hostname': 'keyword',
  'local_metadata.elastic.agent.version': 'keyword',
  policy_id: 'keyword',
};

/** The filters of an agent scope (policy, tags, active). */
function agentScopeQuery(scope: AgentScope): estypes.QueryDslQueryContainer {
  const filter: estypes.QueryDslQueryContainer[] = [];
  if (!scope.showInactive) filter.push({ term: { active: true } });
  if (scope.policyIds?.length) filter.push({ terms: { policy_id: scope.policyIds } });
  if (scope.tags?.length) filter.push({ terms: { tags: scope.tags } });
  return { bool: { filter } };
}
const MAX_STATUS_SCAN = 200_000;

type Source<T> = estypes.SearchHit<T>;
const toHit = <T>(h: Source<T>): Hit<T> => ({ _id: h._id ?? '', _seq_no: h._seq_no ?? -1, _source: h._source as T });
const namedFields = <T extends object>(fields: Partial<T>): Partial<T> =>
  Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
const is404 = (err: unknown): boolean => statusOf(err) === 404 || statusOf((err as { cause?: unknown })?.cause) === 404;
const is409 = (err: unknown): boolean => statusOf(err) === 409;
/** A search of an index not created yet finds nothing; anything else is thrown again. */
const absentIndex = (err: unknown): undefined => {
  if (is404(err)) return undefined;
  throw err;
};

/**
 * The Elasticsearch backend of the store port: the `.fleet-*` indices Kibana and
 * elastic/fleet-server share. No script is ever sent (partial updates are optimistic
 * read-modify-write with `if_seq_no`), and change feeds follow `_seq_no` below the global checkpoint.
 */
export class ElasticsearchFleetStore implements FleetStore {
  readonly backend = 'elasticsearch' as const;
  readonly agents: AgentStore;
  readonly policies: PolicyRevisionStore;
  readonly actions: ActionStore;
  readonly actionResults: ActionResultStore;
  readonly enrollmentKeys: EnrollmentKeyStore;
  readonly agentPolicies: AgentPolicyStore;
  readonly credentials: CredentialStore;
  get outputKeyCluster(): OutputKeyCluster | undefined {
    return this.opts.outputKeyCluster;
  }
  readonly deliveryFiles: DeliveryFileStore;
  readonly artifacts: ArtifactStore;
  readonly uploads: FileUploadStore;
  readonly identity: StoreIdentity;
  readonly managementKeys: ManagementKeyStore;
  readonly audit: AuditStore;
  readonly rollouts: RolloutStore;
  readonly fleetServers: FleetServerStore;
  readonly outputHealth: OutputHealthStore;
  readonly consoleSessions: ConsoleSessionStore;
  readonly secrets: SecretStore;
  capabilities: ElasticsearchCapabilities | undefined;
  /** Why the backend is not ready yet (Elasticsearch unreachable at start), if it is not. */
  notReadyReason: string | undefined = 'not initialized';
  private credentialImpl: CredentialStore | undefined;
  private initTimer: NodeJS.Timeout | undefined;

  readonly client: Client;
  readonly bulker: EsBulker;
  private policyFeed: SeqNoFeed;
  private actionFeed: SeqNoFeed;
  private closing: Promise<void> | undefined;
  /** Per-agent writes (checkin, acks): batched, guarded, never refreshed. */
  private readonly agentWriter: GuardedWriter<AgentDoc>;
  /** Searches over agents refresh first, once and shared, when agents were written since. */
  private readonly agentsRefresh: SharedRefresh;
  /** The same for agent policy records (the management listing). */
  private readonly agentPoliciesRefresh: SharedRefresh;
  /** The highest revision this process knows of per policy (written here or read). */
  private readonly knownRevisions = new Map<string, number>();

  private constructor(private readonly opts: ElasticsearchStoreOptions) {
    this.client = createClient(opts);
    this.bulker = new EsBulker(this.client, { ...DEFAULT_BULKER, ...opts.bulker });
    this.policyFeed = new SeqNoFeed(this.client, ES_INDICES.policies.alias, false, opts.visibilityReuseMs ?? 250);
    this.actionFeed = new SeqNoFeed(this.client, ES_INDICES.actions.alias, false, opts.visibilityReuseMs ?? 250);
    const impl = (): CredentialStore => {
      if (!this.credentialImpl) throw new StoreUnavailableError('elasticsearch not ready');
      return this.credentialImpl;
    };
    this.credentials = {
      get kind() {
        return impl().kind;
      },
      create: (request) => this.guard(() => impl().create(request)),
      verify: (id, secret) => this.guard(() => impl().verify(id, secret)),
      get: (id) => this.guard(() => impl().get(id)),
      invalidate: (ids) => this.guard(() => impl().invalidate(ids)),
      updateRoles: (id, roles) => this.guard(() => impl().updateRoles(id, roles)),
    };
    this.agentsRefresh = new SharedRefresh(this.client, ES_INDICES.agents.alias);
    this.agentPoliciesRefresh = new SharedRefresh(this.client, ES_INDICES.agentPolicies.alias);
    this.agentWriter = new GuardedWriter<AgentDoc>(this.client, this.bulker, ES_INDICES.agents.alias, '.fleet-agents', undefined, () =>
      this.agentsRefresh.touched(),
    );
    this.agents = this.createAgentStore();
    this.policies = this.createPolicyStore();
    this.actions = opts.actionSecretsKey ? withSealedSecrets(this.createActionStore(), new ActionSealer(opts.actionSecretsKey)) : this.createActionStore();
    this.actionResults = this.createActionResultStore();
    this.enrollmentKeys = this.createEnrollmentKeyStore();
    this.agentPolicies = this.createAgentPolicyStore();
    ({ deliveryFiles: this.deliveryFiles, artifacts: this.artifacts } = createEsDeliveryStores(
      this.client,
      (fn) => this.guard(fn),
      () => this.capabilities?.fleetModule ?? false,
    ));
    this.uploads = createEsUploadStore(this.client, () => this.capabilities?.fleetModule === true, (fn) => this.guard(fn));
    this.identity = this.createIdentity();
    ({ managementKeys: this.managementKeys, audit: this.audit } = createEsManagementStores(this.client, (fn) => this.guard(fn)));
    this.rollouts = createEsRolloutStore(this.client, (fn) => this.guard(fn), () => this.agentsRefresh.searchable());
    this.fleetServers = createEsFleetServerStore(this.client, (fn) => this.guard(fn));
    this.outputHealth = createEsOutputHealthStore(this.client, (fn) => this.guard(fn));
    this.consoleSessions = createEsConsoleSessionStore(this.client, (fn) => this.guard(fn));
    this.secrets = createEsSecretStore(this.client, (fn) => this.guard(fn), () => this.capabilities?.fleetModule === true);
  }

  /**
   * Connects, finds out what the cluster offers (security, the fleet module) and creates the
   * indices that do not exist. Fails with `StoreUnavailableError` when Elasticsearch cannot be reached.
   */
  static async open(opts: ElasticsearchStoreOptions, behaviour: { retryIntervalMs?: number; requireReady?: boolean } = {}): Promise<ElasticsearchFleetStore> {
    const store = new ElasticsearchFleetStore(opts);
    const ready = await store.initialize();
    if (!ready) {
      if (behaviour.requireReady ?? true) {
        const reason = store.notReadyReason;
        await store.close();
        throw new StoreUnavailableError(`elasticsearch not ready: ${reason ?? ''}`);
      }
      store.retryInitialization(behaviour.retryIntervalMs ?? 5_000);
    }
    return store;
  }

  /** One attempt to detect the cluster and create missing indices. */
  private async initialize(): Promise<boolean> {
    const probe = createClient({ ...this.opts, maxRetries: 0 });
    try {
      const capabilities = await detect(probe, this.opts.credentials ?? 'auto');
      this.capabilities = capabilities;
      const reuse = this.opts.visibilityReuseMs ?? 250;
      this.policyFeed = new SeqNoFeed(this.client, ES_INDICES.policies.alias, capabilities.fleetModule, reuse);
      this.actionFeed = new SeqNoFeed(this.client, ES_INDICES.actions.alias, capabilities.fleetModule, reuse);
      await this.ensureIndices();
      this.credentialImpl =
        capabilities.credentials === 'elasticsearch' ? new SecurityApiCredentials(this.client) : new BuiltinEsCredentials(this.client);
      this.notReadyReason = undefined;
      return true;
    } catch (err) {
      this.notReadyReason = err instanceof Error ? err.message : String(err);
      return false;
    } finally {
      await probe.close();
    }
  }

  private retryInitialization(intervalMs: number): void {
    this.initTimer = setTimeout(() => {
      if (this.closing) return;
      void this.initialize().then((ok) => {
        if (!ok) this.retryInitialization(intervalMs);
      });
    }, intervalMs);
    this.initTimer.unref();
  }

  async ping(): Promise<void> {
    if (this.closing) throw new StoreUnavailableError('store is closed');
    if (this.notReadyReason) throw new StoreUnavailableError('elasticsearch not ready');
    await call(() => this.client.cluster.health({ timeout: '5s' }));
  }

  pendingWrites(): number {
    return this.bulker.pendingOps;
  }

  onBulkWrite(listener: BulkWriteListener): () => void {
    return this.bulker.onBulk(listener);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.initTimer);
      await this.agentWriter.close();
      await this.bulker.close();
      await this.client.close();
      await this.outputKeyCluster?.close();
    })();
    return this.closing;
  }

  /** A write of this process: the feed checks its checkpoint again on the next read. */
  private wrote(collection: WatchedCollection): void {
    (collection === 'policies' ? this.policyFeed : this.actionFeed).touched();
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) throw new StoreUnavailableError('store is closed');
    if (this.notReadyReason) throw new StoreUnavailableError('elasticsearch not ready');
    return call(fn);
  }

  /** Creates each index (with its alias) that does not exist yet; existing ones are used as they are. */
  private async ensureIndices(): Promise<void> {
    for (const def of Object.values(ES_INDICES) as IndexDefinition[]) {
      // The fleet module owns (and creates on first write) the .fleet-* system indices.
      if (def.system && this.capabilities?.fleetModule) continue;
      if (def === ES_INDICES.builtinApiKeys && this.capabilities?.credentials !== 'builtin') continue;
      // The service account may read but not inspect index metadata: probe with an empty search.
      const exists = await this.client.search({ index: def.alias, size: 0 }).then(
        () => true,
        (err: unknown) => (is404(err) ? false : Promise.reject(translate(err))),
      );
      if (exists) continue;
      try {
        await call(() =>
          this.client.indices.create({ index: def.alias, settings: { index: INDEX_SETTINGS }, mappings: def.mappings }),
        );
      } catch (err) {
        // Another replica created it meanwhile.
        if (errorType(err) !== 'resource_already_exists_exception') throw err;
      }
    }
  }

  // ---- generic helpers --------------------------------------------------------------------

  private async getDoc<T>(index: string, id: string): Promise<Hit<T> | undefined> {
    const found = await this.getVersioned<T>(index, id);
    return found ? { _id: id, _seq_no: found.seqNo, _source: found.doc } : undefined;
  }

  private async getVersioned<T>(index: string, id: string) {
    try {
      const res = await this.client.get<T>({ index, id });
      if (!res.found) return undefined;
      return { doc: res._source as T, seqNo: res._seq_no ?? 0, primaryTerm: res._primary_term ?? 1 };
    } catch (err) {
      if (is404(err)) return undefined;
      throw err;
    }
  }

  /**
   * `refresh: false` where nothing searches for the document right away, or a `SharedRefresh` /
   * the change feed makes it searchable when needed; `true` stays where a search must find it at
   * once and the write is rare (enrollment, enrollment keys, the store identity).
   */
  private async createDoc<T extends object>(index: string, id: string, doc: T, collection: string, refresh = true): Promise<Hit<T>> {
    try {
      const res = await this.client.create({ index, id, document: doc, refresh });
      return { _id: id, _seq_no: res._seq_no ?? -1, _source: doc };
    } catch (err) {
      if (is409(err)) throw new DocumentConflictError(collection, id);
      throw err;
    }
  }

  /**
   * A create through the bulk writer, sent at once (or right after the batch in flight), without a
   * refresh: visible to a realtime GET by id when it resolves, to searches after the next refresh.
   */
  private async createBulked<T extends object>(index: string, id: string, doc: T, collection: string): Promise<Hit<T>> {
    const [res] = await this.bulker.submit([{ action: 'create', index, id, doc }], { urgent: true });
    if (index === ES_INDICES.agents.alias) this.agentsRefresh.touched();
    const status = res?.status ?? 500;
    if (status === 409) throw new DocumentConflictError(collection, id);
    if (status === 429 || status >= 500) throw new StoreUnavailableError(`${collection} create failed: ${status} ${res?.errorType ?? ''}`);
    if (status >= 300) throw new Error(`${collection} create refused: ${status} ${res?.errorType ?? ''}`);
    return { _id: id, _seq_no: res?.seqNo ?? -1, _source: doc };
  }

  private async deleteDoc(index: string, id: string): Promise<boolean> {
    try {
      await this.client.delete({ index, id, refresh: true });
      return true;
    } catch (err) {
      if (is404(err)) return false;
      throw err;
    }
  }

  /** Optimistic read-modify-write: retried on version conflicts, never a script. */
  private async mutateDoc<T extends object>(
    index: string,
    id: string,
    collection: string,
    change: (doc: T) => Partial<T> | undefined,
    refresh = true,
  ): Promise<Hit<T>> {
    for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
      const current = await this.getVersioned<T>(index, id);
      if (!current) throw new DocumentNotFoundError(collection, id);
      const fields = change(current.doc);
      if (!fields) return { _id: id, _seq_no: current.seqNo, _source: current.doc };
      const doc = { ...current.doc, ...namedFields(fields) };
      try {
        const res = await this.client.index({
          index,
          id,
          document: doc,
          if_seq_no: current.seqNo,
          if_primary_term: current.primaryTerm,
          refresh,
        });
        return { _id: id, _seq_no: res._seq_no ?? -1, _source: doc };
      } catch (err) {
        if (!is409(err)) throw err;
        await backoff(attempt);
      }
    }
    throw new DocumentConflictError(collection, id);
  }

  private async search<T>(index: string, body: estypes.SearchRequest): Promise<{ hits: Hit<T>[]; total: number }> {
    try {
      const res = await this.client.search<T>({ index, seq_no_primary_term: true, ignore_unavailable: true, ...body });
      const total = typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? res.hits.hits.length);
      return { hits: res.hits.hits.map((h) => toHit<T>(h)), total };
    } catch (err) {
      if (is404(err)) return { hits: [], total: 0 };
      throw err;
    }
  }

  private async firstHit<T>(index: string, body: estypes.SearchRequest): Promise<Hit<T> | undefined> {
    return (await this.search<T>(index, { ...body, size: 1 })).hits[0];
  }

  /** Every hit of a query, in `_seq_no` order, page by page (bounded by `max`). */
  private async scan<T>(index: string, query: estypes.QueryDslQueryContainer, max: number): Promise<Hit<T>[]> {
    const out: Hit<T>[] = [];
    let after: estypes.SortResults | undefined;
    while (out.length < max) {
      const res = await this.client
        .search<T>({
          index,
          query,
          size: Math.min(SCAN_PAGE, max - out.length),
          sort: [{ _seq_no: 'asc' }],
          seq_no_primary_term: true,
          ignore_unavailable: true,
          ...(after ? { search_after: after } : {}),
        })
        .catch((err: unknown) => {
          if (is404(err)) return undefined;
          throw err;
        });
      const hits = res?.hits.hits ?? [];
      out.push(...hits.map((h) => toHit<T>(h)));
      const last = hits[hits.length - 1];
      if (!last?.sort || hits.length < SCAN_PAGE) break;
      after = last.sort;
    }
    return out;
  }

  private async changes<T>(feed: SeqNoFeed, index: string, after: number, limit: number): Promise<Hit<T>[]> {
    const checkpoint = await feed.visible(true);
    if (checkpoint <= after) return [];
    const res = await this.search<T>(index, {
      query: { range: { _seq_no: { gt: after, lte: checkpoint } } },
      sort: [{ _seq_no: 'asc' }],
      size: limit,
    });
    return res.hits;
  }

  // ---- agents -------------------------------------------------------------------------------

  /**
   * The status filters (see es-agent-status.ts) for the agents of `query` at `now`, built with the
   * status context of every policy those agents are on; `none` when no agent matches, and
   * `too-many-policies` past `MAX_STATUS_POLICIES` (the caller then derives in memory).
   */
  private async statusFilterSet(
    query: estypes.QueryDslQueryContainer,
    now: Date,
  ): Promise<Record<string, estypes.QueryDslQueryContainer> | 'none' | 'too-many-policies'> {
    const res = await this.client
      .search({ index: ES_INDICES.agents.alias, size: 0, query, aggs: { policies: { terms: { field: 'policy_id', size: MAX_STATUS_POLICIES } } } })
      .catch(absentIndex);
    const agg = res?.aggregations?.policies as estypes.AggregationsStringTermsAggregate | undefined;
    const buckets = Array.isArray(agg?.buckets) ? agg.buckets : [];
    if ((agg?.sum_other_doc_count ?? 0) > 0) return 'too-many-policies';
    if (!buckets.length) return 'none';
    const contextOf = statusContexts(this, now);
    const contexts = new Map<string, StatusContext>();
    for (const b of buckets) contexts.set(String(b.key), await contextOf(String(b.key)));
    return statusFilters(now, contexts);
  }

  private createAgentStore(): AgentStore {
    const index = ES_INDICES.agents.alias;
    const name = '.fleet-agents';
    return {
      get: (id) => this.guard(() => this.getDoc<AgentDoc>(index, id)),
      create: (id, doc, opts) =>
        this.guard(() => (opts?.searchable === false ? this.createBulked(index, id, doc, name) : this.createDoc(index, id, doc, name))),
      update: (id, fields) => this.guard(() => this.agentWriter.mutate(id, () => fields)),
      mutate: (id, change) => this.guard(() => this.agentWriter.mutate(id, change)),
      updateMany: (updates) =>
        this.guard(async () => {
          const outcomes: BulkItemOutcome[] = new Array<BulkItemOutcome>(updates.length).fill('updated');
          // Several updates of one agent in a batch apply in order: merge them first.
          const merged = new Map<string, { indexes: number[]; fields: Partial<AgentDoc> }>();
          updates.forEach((u, i) => {
            const m = merged.get(u.id);
            if (m) {
              m.indexes.push(i);
              Object.assign(m.fields, namedFields(u.fields));
            } else merged.set(u.id, { indexes: [i], fields: namedFields({ ...u.fields }) });
          });
          let todo = [...merged.keys()];
          for (let attempt = 0; todo.length && attempt < CONFLICT_RETRIES; attempt++) {
            const res = await this.client.mget<AgentDoc>({ index, ids: todo });
            const ops: BulkOp[] = [];
            for (const d of res.docs) {
              const entry = merged.get(d._id);
              if (!entry) continue;
              if (!('found' in d) || !d.found) {
                for (const i of entry.indexes) outcomes[i] = 'not_found';
                continue;
              }
              // A late status write (retried, or from another replica) never replaces a newer one.
              if (supersededStatusWrite(d._source as AgentDoc, entry.fields)) continue;
              ops.push({
                action: 'index' as const,
                index: d._index,
                id: d._id,
                doc: { ...(d._source as AgentDoc), ...entry.fields },
                ifSeqNo: d._seq_no ?? 0,
                ifPrimaryTerm: d._primary_term ?? 1,
              });
            }
            const results = await this.bulker.submit(ops);
            if (ops.length) this.agentsRefresh.touched();
            const conflicted: string[] = [];
            results.forEach((r, i) => {
              const op = ops[i];
              if (!op) return;
              if (r.status === 409) conflicted.push(op.id);
              else if (r.status === 429 || r.status >= 500) throw new StoreUnavailableError(`agent update failed: ${r.status} ${r.errorType ?? ''}`);
              else if (r.status >= 300) for (const j of merged.get(op.id)?.indexes ?? []) outcomes[j] = 'rejected';
            });
            todo = conflicted;
            if (todo.length) await backoff(attempt);
          }
          if (todo.length) throw new DocumentConflictError(name, todo[0] ?? '');
          return outcomes;
        }),
      delete: (id) =>
this.guard(() => this.deleteDoc(index, id)),
      findByAccessApiKeyId: (keyId) =>
        this.guard(async () => {
          // The search finds which agent holds the key (fixed at enrollment); the document itself
          // is read by id, realtime, so a write not yet refreshed (an unenroll) is seen.
          const byKey = () => this.firstHit<AgentDoc>(index, { query: { term: { access_api_key_id: keyId } }, sort: [{ _seq_no: 'desc' }] });
          let found = await byKey();
          // A miss may be a key written since the last refresh (a rotation): one shared refresh, then again.
          if (!found && this.agentsRefresh.isDirty) {
            await this.agentsRefresh.searchable();
            found = await byKey();
          }
          if (!found) return undefined;
          const current = await this.getDoc<AgentDoc>(index, found._id);
          return current?._source.access_api_key_id === keyId ? current : undefined;
        }),
      findByEnrollmentId: (enrollmentId) =>
        this.guard(async () => {
          // Enrollments are written without a refresh: one refresh that began after this call
          // makes them searchable, shared by every lookup waiting meanwhile (the reference
          // batches these lookups behind one refresh too).
          await this.agentsRefresh.refresh();
          return this.firstHit<AgentDoc>(index, { query: { term: { enrollment_id: enrollmentId } }, sort: [{ _seq_no: 'desc' }] });
        }),
      countByPolicy: (policyId) =>
        this.guard(async () => {
          await this.agentsRefresh.searchable();
          try {
            return (await this.client.count({ index, query: { term: { policy_id: policyId } } })).count;
          } catch (err) {
            if (is404(err)) return 0;
            throw err;
          }
        }),
      listSilent: ({ policyId, before, limit }) =>
        this.guard(async () => {
          await this.agentsRefresh.searchable();
          const cutoff = before.toISOString();
          const query: estypes.QueryDslQueryContainer = {
            bool: {
              filter: [{ term: { active: true } }, { term: { policy_id: policyId } }],
              should: [
                { range: { last_checkin: { lt: cutoff } } },
                { bool: { must_not: { exists: { field: 'last_checkin' } }, filter: { range: { enrolled_at: { lt: cutoff } } } } },
              ],
              minimum_should_match: 1,
            },
          };
          const sort: estypes.Sort = [{ last_checkin: { order: 'asc', unmapped_type: 'date', missing: '_first' } }, { 'agent.id': { order: 'asc', unmapped_type: 'keyword' } }];
          return (await this.search<AgentDoc>(index, { query, sort, size: limit })).hits;
        }),
      query: (q: AgentQuery) =>
        this.guard(async (): Promise<Page<Hit<AgentDoc>>> => {
          await this.agentsRefresh.searchable();
          const query = agentScopeQuery(q);
          const order = q.sort ?? DEFAULT_AGENT_SORT;
          const sort: estypes.Sort = [
            { [order.field]: { order: order.order, unmapped_type: SORT_TYPES[order.field], missing: '_last' } },
            { 'agent.id': { order: 'asc', unmapped_type: 'keyword' } },
          ];
          const from = (q.page - 1) * q.perPage;
          if (!q.statuses?.length) {
            const res = await this.search<AgentDoc>(index, { query, sort, from, size: q.perPage, track_total_hits: true });
            return { total: res.total, items: res.hits };
          }
          // Status is derived (as Kibana derives it): by the status filters, sorted and paged by
          // Elasticsearch; over a bounded scan in memory when too many policies are involved.
          const statuses = new Set(q.statuses);
          const filters = await this.statusFilterSet(query, q.now);
          if (filters === 'none') return { total: 0, items: [] };
          if (filters !== 'too-many-policies') {
            const wanted = Object.entries(filters).filter(([key]) => statuses.has(statusOfKey(key) as AgentStatus)).map(([, f]) => f);
            const byStatus: estypes.QueryDslQueryContainer = { bool: { filter: [query], should: wanted, minimum_should_match: 1 } };
            const res = await this.search<AgentDoc>(index, { query: byStatus, sort, from, size: q.perPage, track_total_hits: true });
            return { total: res.total, items: res.hits };
          }
          const contextOf = statusContexts(this, q.now);
          const all = await this.scan<AgentDoc>(index, query, MAX_STATUS_SCAN);
          const matching: Hit<AgentDoc>[] = [];
          for (const h of all) {
            if (statuses.has(deriveAgentStatus(h._source, await contextOf(h._source.policy_id)))) matching.push(h);
          }
          matching.sort(compareAgents(order));
          return { total: matching.length, items: matching.slice(from, from + q.perPage) };
        }),
      countByStatus: (scope) =>
        this.guard(async () => {
          await this.agentsRefresh.searchable();
          const query = agentScopeQuery(scope);
          const counts = zeroStatusCounts();
          const filters = await this.statusFilterSet(query, scope.now);
          if (filters === 'none') return counts;
          if (filters === 'too-many-policies') {
            const contextOf = statusContexts(this, scope.now);
            for (const h of await this.scan<AgentDoc>(index, query, MAX_STATUS_SCAN)) counts[deriveAgentStatus(h._source, await contextOf(h._source.policy_id))] += 1;
            return counts;
          }
          const res = await this.client.search({ index, size: 0, query, aggs: { statuses: { filters: { filters } } } });
          const byKey = (res.aggregations?.statuses as estypes.AggregationsFiltersAggregate | undefined)?.buckets ?? {};
          for (const [key, bucket] of Object.entries(byKey as Record<string, estypes.AggregationsFiltersBucket>)) {
            const status = statusOfKey(key);
            if (status) counts[status] += bucket.doc_count;
          }
          return counts;
        }),
      distinctTags: (scope) =>
        this.guard(async () => {
          await this.agentsRefresh.searchable();
          const res = await this.client
            .search({ index, size: 0, query: agentScopeQuery(scope), aggs: { tags: { terms: { field: 'tags', size: scope.limit, order: { _key: 'asc' } } } } })
            .catch(absentIndex);
          const buckets = (res?.aggregations?.tags as estypes.AggregationsStringTermsAggregate | undefined)?.buckets;
          return Array.isArray(buckets) ? buckets.map((b) => String(b.key)) : [];
        }),
    };
  }

  // ---- policies -----------------------------------------------------------------------------

  private noteRevision(policyId: string, revision: number): void {
    if (revision > (this.knownRevisions.get(policyId) ?? -1)) this.knownRevisions.set(policyId, revision);
  }

  /**
   * The latest revision without waiting for a refresh: the search finds the latest searchable one,
   * then revisions are read by id (a GET is realtime) from the highest this process knows of,
   * onwards while the next one exists (revisions are consecutive). A revision written a moment ago,
   * here or by another replica, is found without a refresh.
   */
  private async latestRevision(policyId: string): Promise<Hit<PolicyRevisionDoc> | undefined> {
    const index = ES_INDICES.policies.alias;
    let best = await this.firstHit<PolicyRevisionDoc>(index, { query: { term: { policy_id: policyId } }, sort: [{ revision_idx: 'desc' }] });
    const known = this.knownRevisions.get(policyId) ?? -1;
    if (known > (best?._source.revision_idx ?? -1)) {
      best = (await this.getDoc<PolicyRevisionDoc>(index, policyRevisionDocId(policyId, known))) ?? best;
    }
    for (let probes = 0; best && probes < 1000; probes++) {
      const next = await this.getDoc<PolicyRevisionDoc>(index, policyRevisionDocId(policyId, best._source.revision_idx + 1));
      if (!next) break;
      best = next;
    }
    if (best) this.noteRevision(policyId, best._source.revision_idx);
    return best;
  }

  private createPolicyStore(): PolicyRevisionStore {
    const index = ES_INDICES.policies.alias;
    return {
      create: (doc) =>
        this.guard(async () => {
          // No refresh: the change feed makes revisions searchable up to its checkpoint (one refresh
          // per change pass), and `latest` reads revisions by id, realtime.
          const hit = await this.createDoc(index, policyRevisionDocId(doc.policy_id, doc.revision_idx), doc, '.fleet-policies', false);
          this.noteRevision(doc.policy_id, doc.revision_idx);
          this.wrote('policies');
          return hit;
        }),
      latest: (policyId) => this.guard(() => this.latestRevision(policyId)),
      list: (policyId, req) =>
        this.guard(async () => {
          // Revisions are written without a refresh; a listing (a management read) refreshes first.
          await this.client.indices.refresh({ index, ignore_unavailable: true });
          const res = await this.search<PolicyRevisionDoc>(index, {
            query: { term: { policy_id: policyId } },
            sort: [{ revision_idx: 'desc' }],
            from: (req.page - 1) * req.perPage,
            size: req.perPage,
            track_total_hits: true,
          });
          return { total: res.total, items: res.hits };
        }),
      get: (policyId, revisionIdx) => this.guard(() => this.getDoc<PolicyRevisionDoc>(index, policyRevisionDocId(policyId, revisionIdx))),
      changesSince: (after, limit) => this.guard(() => this.changes<PolicyRevisionDoc>(this.policyFeed, index, after, limit)),
      checkpoint: () => this.guard(() => this.policyFeed.checkpoint()),
    };
  }

  // ---- actions ------------------------------------------------------------------------------

  private createActionStore(): ActionStore {
    const index = ES_INDICES.actions.alias;
    return {
      create: (doc, id) =>
        this.guard(async () => {
          const hit = await this.createDoc(index, id ?? randomUUID(), doc, '.fleet-actions');
          this.wrote('actions');
          return hit;
        }),
      get: (docId) => this.guard(() => this.getDoc<ActionDoc>(index, docId)),
      findByActionId: (actionId) =>
        this.guard(() => this.firstHit<ActionDoc>(index, { query: { term: { action_id: actionId } }, sort: [{ _seq_no: 'asc' }] })),
      findForAgent: (actionId, agentId) =>
        this.guard(() =>
          this.firstHit<ActionDoc>(index, {
            query: { bool: { filter: [{ term: { action_id: actionId } }, { term: { agents: agentId } }] } },
            sort: [{ _seq_no: 'asc' }],
          }),
        ),
      listForAgent: ({ agentId, limit }) =>
        this.guard(async () => {
          await this.actionFeed.visible(true);
          const res = await this.search<ActionDoc>(index, {
            query: { term: { agents: agentId } },
            sort: [{ _seq_no: 'desc' }],
            size: limit,
            track_total_hits: true,
          });
          return { total: res.total, items: res.hits };
        }),
      pendingFor: (q) =>
        this.guard(async () => {
          const visible = await this.actionFeed.visible(false);
          const upper = Math.min(q.maxSeqNo ?? Number.POSITIVE_INFINITY, visible);
          if (upper <= q.afterSeqNo) return [];
          const res = await this.search<ActionDoc>(index, {
            query: {
              bool: {
                filter: [
                  { term: { agents: q.agentId } },
                  { range: { _seq_no: { gt: q.afterSeqNo, lte: upper } } },
                  { range: { expiration: { gt: q.now.toISOString() } } },
                ],
              },
            },
            sort: [{ _seq_no: 'asc' }],
            size: q.limit,
          });
          return res.hits;
        }),
      changesSince: (after, limit) => this.guard(() => this.changes<ActionDoc>(this.actionFeed, index, after, limit)),
      checkpoint: () => this.guard(() => this.actionFeed.checkpoint()),
      awaitVisible: (seqNo) =>
        this.guard(async () => {
          // The global checkpoint may trail a just-acknowledged write by a moment.
          for (let attempt = 0; attempt < 40; attempt++) {
            if ((await this.actionFeed.visible(attempt > 0)) >= seqNo) return;
            await new Promise((r) => setTimeout(r, 25));
          }
        }),
      deleteExpiredBefore: (before) =>
        this.guard(async () => {
          await this.client.indices.refresh({ index, ignore_unavailable: true });
          const expired = await this.scan<ActionDoc>(index, { range: { expiration: { lt: before.toISOString() } } }, 100_000);
          if (!expired.length) return 0;
          const results = await this.bulker.submit(expired.map((h) => ({ action: 'delete' as const, index, id: h._id })));
          await this.client.indices.refresh({ index, ignore_unavailable: true });
          this.actionFeed.touched();
          return results.filter((r) => r.status === 200).length;
        }),
    };
  }

  // ---- action results ------------------------------------------------------------------------

  private createActionResultStore(): ActionResultStore {
    const index = ES_INDICES.actionResults.alias;
    return {
      createMany: (docs) =>
        this.guard(async () => {
          const results = await this.bulker.submit(
            docs.map((doc) => ({ action: 'create' as const, index, id: `${doc.action_id}:${doc.agent_id}`, doc })),
          );
          return results.map((r) => {
            if (r.status === 201 || r.status === 200) return 'created';
            if (r.status === 409) return 'exists';
            if (r.status === 429 || r.status >= 500) throw new StoreUnavailableError(`action result write failed: ${r.status} ${r.errorType ?? ''}`);
            // Refused for what it holds (a mapping conflict, a document too deep): this result alone.
            return 'rejected';
          });
        }),
      listByActionId: (actionId) =>
        this.guard(async () => {
          await this.client.indices.refresh({ index, ignore_unavailable: true });
          return this.scan<ActionResultDoc>(index, { term: { action_id: actionId } }, 100_000);
        }),
      acknowledgedBy: (agentId, actionIds, opts) =>
        this.guard(async () => {
          if (!actionIds.length) return new Set<string>();
          if (opts?.fresh) await this.client.indices.refresh({ index, ignore_unavailable: true });
          // By document id (`<action_id>:<agent_id>`): a search, since the index may be a data stream.
          const hits = await this.scan<ActionResultDoc>(
            index,
            { bool: { filter: [{ ids: { values: actionIds.map((a) => `${a}:${agentId}`) } }, { term: { agent_id: agentId } }] } },
            actionIds.length,
          );
          return new Set(hits.map((h) => h._source.action_id));
        }),
      resultsOf: (agentId, actionIds) =>
        this.guard(async () => {
          if (!actionIds.length) return [];
          await this.client.indices.refresh({ index, ignore_unavailable: true });
          return this.scan<ActionResultDoc>(
            index,
            { bool: { filter: [{ ids: { values: actionIds.map((a) => `${a}:${agentId}`) } }, { term: { agent_id: agentId } }] } },
            actionIds.length,
          );
        }),
    };
  }

  // ---- enrollment keys ----------------------------------------------------------------------

  private createEnrollmentKeyStore(): EnrollmentKeyStore {
    const index = ES_INDICES.enrollmentKeys.alias;
    const name = '.fleet-enrollment-api-keys';
    return {
      create: (id, doc) => this.guard(() => this.createDoc(index, id, doc, name)),
      get: (id) => this.guard(() => this.getDoc<EnrollmentApiKeyDoc>(index, id)),
      update: (id, fields) => this.guard(() => this.mutateDoc<EnrollmentApiKeyDoc>(index, id, name, () => fields)),
      findActiveByApiKeyId: (apiKeyId) =>
        this.guard(async () => {
          const res = await this.search<EnrollmentApiKeyDoc>(index, {
            query: { bool: { filter: [{ term: { api_key_id: apiKeyId } }, { term: { active: true } }] } },
            size: 2,
          });
          return res.hits.length === 1 ? res.hits[0] : undefined;
        }),
      list: (req) =>
        this.guard(async () => {
          const res = await this.search<EnrollmentApiKeyDoc>(index, {
            query: req.policyId ? { term: { policy_id: req.policyId } } : { match_all: {} },
            sort: [{ created_at: { order: 'desc', unmapped_type: 'date' } }, { api_key_id: { order: 'asc', unmapped_type: 'keyword' } }],
            from: (req.page - 1) * req.perPage,
            size: req.perPage,
            track_total_hits: true,
          });
          return { total: res.total, items: res.hits };
        }),
    };
  }

  // ---- identity ---------------------------------------------------------------------------

  private createIdentity(): StoreIdentity {
    const index = ES_INDICES.storeIdentity.alias;
    type Stored = { store_id: string; created_at: string };
    const read = async () => (await this.getDoc<Stored>(index, 'store'))?._source.store_id;
    return {
      get: () => this.guard(read),
      claim: (id) =>
        this.guard(async () => {
          try {
            await this.createDoc<Stored>(index, 'store', { store_id: id, created_at: new Date().toISOString() }, 'store_identity');
            return id;
          } catch (err) {
            // Another replica recorded one first: that one is the store's.
            if (!(err instanceof DocumentConflictError)) throw err;
            return (await read()) ?? id;
          }
        }),
    };
  }

  // ---- agent policy records -----------------------------------------------------------------

  private createAgentPolicyStore(): AgentPolicyStore {
    const index = ES_INDICES.agentPolicies.alias;
    const name = 'agent_policies';
    type Stored = { id: string; name: string; created_at: string; updated_at: string; doc: AgentPolicyRecord };
    const wrap = (r: AgentPolicyRecord): Stored => ({ id: r.id, name: r.name, created_at: r.created_at, updated_at: r.updated_at, doc: r });
    return {
      create: (record) =>
        this.guard(async () => {
          await this.createDoc(index, record.id, wrap(record), name, false);
          this.agentPoliciesRefresh.touched();
          return record;
        }),
      get: (id) => this.guard(async () => (await this.getDoc<Stored>(index, id))?._source.doc),
      put: (record, expectedRevision) =>
        this.guard(async () => {
          // Compare-and-set: the stored record must be at the revision the caller read, and must
          // not change between this read and the write (`if_seq_no`/`if_primary_term`). No refresh
          // (it queued behind agent writes during a rollout): read by id is realtime, and the
          // listing refreshes first when records were written.
          const current = await this.getVersioned<Stored>(index, record.id);
          if (!current) throw new DocumentNotFoundError(name, record.id);
          if (current.doc.doc.revision !== expectedRevision) throw new DocumentConflictError(name, record.id);
          try {
            await this.client.index({ index, id: record.id, document: wrap(record), if_seq_no: current.seqNo, if_primary_term: current.primaryTerm, refresh: false });
          } catch (err) {
            if (is409(err)) throw new DocumentConflictError(name, record.id);
            throw err;
          }
          this.agentPoliciesRefresh.touched();
          return record;
        }),
      list: (req) =>
        this.guard(async () => {
          await this.agentPoliciesRefresh.searchable();
          const res = await this.search<Stored>(index, {
            query: { match_all: {} },
            sort: [{ created_at: 'asc' }, { id: 'asc' }],
            from: (req.page - 1) * req.perPage,
            size: req.perPage,
            track_total_hits: true,
          });
          return { total: res.total, items: res.hits.map((h) => h._source.doc) };
        }),
      delete: (id, expectedRevision) =>
        this.guard(async () => {
          if (expectedRevision === undefined) return this.deleteDoc(index, id);
          const current = await this.getVersioned<Stored>(index, id);
          if (current?.doc.doc.revision !== expectedRevision) return false;
          try {
            await this.client.delete({ index, id, if_seq_no: current.seqNo, if_primary_term: current.primaryTerm, refresh: true });
            return true;
          } catch (err) {
            if (is404(err) || is409(err)) return false;
            throw err;
          }
        }),
    };
  }
}

async function detect(client: Client, wanted: 'auto' | 'elasticsearch' | 'builtin'): Promise<ElasticsearchCapabilities> {
  await call(() => client.cluster.health({ timeout: '10s' }));
  const nodes = await call(() => client.nodes.info({ node_id: '_local', metric: ['modules', 'plugins'] })).catch(() => undefined);
  let version = 'unknown';
  let fleetModule = false;
  for (const node of Object.values(nodes?.nodes ?? {})) {
    version = node.version;
    fleetModule = [...(node.modules ?? []), ...(node.plugins ?? [])].some((m) => m.name === 'x-pack-fleet' || m.name === 'fleet');
  }
  let security = false;
  try {
    await client.security.authenticate();
    security = true;
  } catch (err) {
    // Only a cluster that says security is disabled counts as "off"; a bad credential (401), an
    // overloaded or starting cluster (429, 5xx) or no connection is a failure, retried later.
    const status = statusOf(err);
    const reason = JSON.stringify((err as { body?: unknown }).body ?? '');
    if (status === undefined || status === 401 || status === 429 || status >= 500 || !/security/i.test(reason)) throw err;
  }
  const credentials = wanted === 'auto' ? (security ? 'elasticsearch' : 'builtin') : wanted;
  if (credentials === 'elasticsearch' && !security) {
    throw new StoreUnavailableError('Elasticsearch API keys requested but security is not enabled on the cluster');
  }
  return { version, security, fleetModule, credentials };
}
