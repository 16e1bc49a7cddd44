import { BoundedCache, type Logger } from '@fleet/service-kit';
import {
  MAX_SECRET_BATCH,
  outputCredentialNotes,
  outputKeyTarget,
  referencedSecretIds,
  resolvePolicySecrets,
  type FleetStore,
  type JsonObject,
  type OutputCredentialNote,
  type PolicyRevisionDoc,
  type ResolvedPolicy,
} from '@fleet/store';
import { agentFacingOutput, agentFacingSecretPaths, elasticsearchOutputs, type ElasticsearchOutput } from './output-keys';

/** A policy revision rendered once for every agent that receives it. */
export interface PreparedPolicy {
  policyId: string;
  revision: number;
  createdAt: string;
  /** `{"policy":{...}}`, serialized once per revision per replica. */
  dataJson: string;
  /** Outputs that get a per-agent API key (when credentials are Elasticsearch API keys). */
  esOutputs: ElasticsearchOutput[];
  /** The outputs object, and `dataJson` with it replaced by a marker, for splicing in per-agent keys. */
  outputs: Record<string, JsonObject>;
  templateJson: string;
}

/** A policy is read again for agents reporting a newer revision at most this often. */
const REFRESH_INTERVAL_MS = 1_000;

const OUTPUTS_MARKER = '"__fleet_outputs_with_agent_keys__"';

/** The POLICY_CHANGE data for one agent: the prepared revision with its own output keys spliced in. */
export function policyDataWithKeys(prepared: PreparedPolicy, keys: Record<string, string>): string {
  if (!Object.keys(keys).length) return prepared.dataJson;
  const outputs: Record<string, JsonObject> = {};
  for (const [name, output] of Object.entries(prepared.outputs)) {
    outputs[name] = keys[name] ? { ...output, api_key: keys[name] } : output;
  }
  return prepared.templateJson.replace(OUTPUTS_MARKER, JSON.stringify(outputs));
}

/**
 * The latest revision of each policy, as this replica knows it. A revision is read from the store
 * and serialized once; concurrent requests for the same policy share one read.
 */
export class PolicyCache {
  private readonly latest = new Map<string, PreparedPolicy>();
  private readonly loading = new Map<string, Promise<PreparedPolicy | undefined>>();
  /** Revisions being prepared (secrets read), by `<policy>:<revision>`: concurrent accepts share one. */
  private readonly preparing = new Map<string, Promise<PreparedPolicy>>();
  /** Policies read again for a newer reported revision in the last interval. */
  private readonly refreshed = new BoundedCache<string, true>({ maxEntries: 10_000, ttlMs: REFRESH_INTERVAL_MS });
  storeReads = 0;
  /** Revisions whose secrets were read from the store (once per revision, whatever the number of agents); failed reads not counted. */
  secretResolutions = 0;

  constructor(
    private readonly store: FleetStore,
    private readonly logger: Logger,
  ) {}

  /** The latest known revision, loading it on first use. */
  async get(policyId: string): Promise<PreparedPolicy | undefined> {
    return this.latest.get(policyId) ?? this.load(policyId);
  }

  /**
   * Called when an agent reports running a revision newer than the cached one: another replica
   * delivered it and this one has not heard of it yet (its announcement is late or was lost). The
   * store is read again, at most once a second per policy, so that an older revision is never sent
   * back to an agent that runs a newer one; a report of a revision that does not exist costs no more.
   * `read` says whether this call read the store itself: only such a read can tell that the store
   * does not have the reported revision (a throttled call, or a read begun earlier, may predate it).
   */
  async refresh(policyId: string): Promise<{ latest: PreparedPolicy | undefined; read: boolean }> {
    if (this.refreshed.get(policyId)) return { latest: await this.get(policyId), read: false };
    this.refreshed.set(policyId, true);
    return { latest: await this.read(policyId), read: true };
  }

  /** The revision cached for a policy, if any. */
  known(policyId: string): number | undefined {
    return this.latest.get(policyId)?.revision;
  }

  /**
   * A revision read from the policy feed: prepared (its secrets resolved) and cached unless a
   * newer one is. Returns the policy's latest known revision. Rejects when the secrets cannot be
   * read (the store is away): the revision is then not cached, and the feed reads it again.
   */
  async accept(doc: PolicyRevisionDoc): Promise<PreparedPolicy> {
    const known = this.latest.get(doc.policy_id);
    if (known && known.revision >= doc.revision_idx) return known;
    const key = `${doc.policy_id}:${doc.revision_idx}`;
    let pending = this.preparing.get(key);
    if (!pending) {
      pending = this.prepare(doc).finally(() => this.preparing.delete(key));
      this.preparing.set(key, pending);
    }
    const prepared = await pending;
    const latest = this.latest.get(doc.policy_id);
    // A newer revision may have been cached while this one was prepared.
    if (latest && latest.revision >= prepared.revision) return latest;
    this.latest.set(doc.policy_id, prepared);
    return prepared;
  }

  /**
   * Resolves the revision's secrets (read in bounded batches) and renders it. A secret that does
   * not exist is skipped with a warning naming its id and where it is referenced, as the
   * reference does: its reference stays in the policy. Values are never logged.
   */
  private async prepare(doc: PolicyRevisionDoc): Promise<PreparedPolicy> {
    this.noteOutputCredentials(doc);
    const ids = referencedSecretIds(doc.data);
    if (!ids.length) return preparePolicy(doc);
    const values = new Map<string, string>();
    for (let i = 0; i < ids.length; i += MAX_SECRET_BATCH) {
      for (const [id, value] of await this.store.secrets.get(ids.slice(i, i + MAX_SECRET_BATCH))) values.set(id, value);
    }
    this.secretResolutions += 1;
    const resolved = resolvePolicySecrets(doc.data, values);
    for (const m of resolved.missing) {
      this.logger.warn(
        { 'fleet.policy.id': doc.policy_id, revision: doc.revision_idx, 'secret.id': m.id, 'secret.path': m.path },
        'policy secret not found; its reference is left in the policy',
      );
    }
    return preparePolicy(doc, resolved);
  }

  /**
   * Says, once per revision, which outputs go out without per-agent keys (and so with the
   * credentials written in them): the management API says it when a policy is saved, and this
   * covers revisions written by Kibana.
   */
  private noteOutputCredentials(doc: PolicyRevisionDoc): void {
    let notes: OutputCredentialNote[];
    try {
      notes = outputCredentialNotes(doc.data, outputKeyTarget(this.store));
    } catch {
      return; // The store's credentials are not known yet (Elasticsearch not ready): nothing to say.
    }
    for (const n of notes) {
      this.logger.warn({ 'fleet.policy.id': doc.policy_id, revision: doc.revision_idx, output: n.output, code: n.code }, n.message);
    }
  }

  private load(policyId: string): Promise<PreparedPolicy | undefined> {
    let pending = this.loading.get(policyId);
    if (!pending) {
      pending = this.read(policyId).finally(() => this.loading.delete(policyId));
      this.loading.set(policyId, pending);
    }
    return pending;
  }

  private async read(policyId: string): Promise<PreparedPolicy | undefined> {
    this.storeReads += 1;
    const hit = await this.store.policies.latest(policyId);
    if (!hit) return this.latest.get(policyId);
    const known = this.latest.get(policyId);
    // Stale or repeated revisions never replace a newer one.
    if (known && known.revision >= hit._source.revision_idx) return known;
    const prepared = await this.accept(hit._source);
    this.logger.debug({ 'fleet.policy.id': policyId, revision: prepared.revision }, 'policy revision prepared');
    return prepared;
  }
}

/**
 * Renders the agent-facing POLICY_CHANGE data of a revision: with its secrets in place and
 * `secret_paths` when `resolved` says some were (see policy-secrets.ts in @fleet/store), without
 * `secret_references` in any case.
 */
export function preparePolicy(doc: PolicyRevisionDoc, resolved?: ResolvedPolicy): PreparedPolicy {
  const { secret_references: _secretRefs, ...source } = resolved?.policy ?? doc.data;
  const outputs = source.outputs ? Object.fromEntries(Object.entries(source.outputs).map(([k, o]) => [k, agentFacingOutput(o)])) : undefined;
  const policy = { ...source, ...(outputs ? { outputs } : {}) };
  const secretPaths = agentFacingSecretPaths(resolved?.secretPaths ?? [], source.outputs ?? {});
  const full = {
    ...policy,
    id: doc.policy_id,
    revision: doc.revision_idx,
    ...(secretPaths.length ? { secret_paths: secretPaths } : {}),
  };
  return {
    policyId: doc.policy_id,
    revision: doc.revision_idx,
    createdAt: doc['@timestamp'],
    dataJson: JSON.stringify({ policy: full }),
    esOutputs: elasticsearchOutputs(resolved?.policy ?? doc.data),
    outputs: policy.outputs ?? {},
    templateJson: JSON.stringify({ policy: { ...full, outputs: '__fleet_outputs_with_agent_keys__' } }),
  };
}
