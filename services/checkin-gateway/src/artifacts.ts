import { ArtifactForbiddenError, ArtifactMismatchError, ArtifactThrottleError, BoundedCache, NotFoundError, type Logger } from '@fleet/service-kit';
import type { AgentDoc, FleetStore } from '@fleet/store';
import { createHash } from 'node:crypto';
import type { ArtifactConfig } from './delivery-config';
import type { PolicyCache, PreparedPolicy } from './policy-cache';

/** The artifacts each prepared revision lists, by identifier: computed once per revision per replica. */
const listedArtifacts = new WeakMap<PreparedPolicy, Map<string, Set<string>>>();

function artifactsOf(policy: PreparedPolicy): Map<string, Set<string>> {
  let listed = listedArtifacts.get(policy);
  if (!listed) {
    listed = new Map();
    const parsed = JSON.parse(policy.dataJson) as { policy?: { inputs?: unknown } };
    const inputs = Array.isArray(parsed.policy?.inputs) ? (parsed.policy.inputs as unknown[]) : [];
    for (const input of inputs) {
      const manifest = (input as { artifact_manifest?: { artifacts?: unknown } } | null)?.artifact_manifest?.artifacts;
      if (!manifest || typeof manifest !== 'object') continue;
      for (const [id, entry] of Object.entries(manifest as Record<string, unknown>)) {
        const sha = (entry as { decoded_sha256?: unknown } | null)?.decoded_sha256;
        if (typeof sha !== 'string') continue;
        let shas = listed.get(id);
        if (!shas) listed.set(id, (shas = new Set()));
        shas.add(sha);
      }
    }
    listedArtifacts.set(policy, listed);
  }
  return listed;
}

/**
 * elastic/fleet-server's artifact authorization: the agent's policy (`policy_id`, the one assigned
 * at enrollment, else the `agent_policy_id` it reported) must list the artifact with this decoded
 * SHA-256 in some input's `artifact_manifest`. The policy is this replica's latest known revision.
 */
export async function authorizeArtifact(policies: PolicyCache, agent: AgentDoc, identifier: string, sha2: string): Promise<void> {
  const policyId = agent.policy_id || agent.agent_policy_id;
  if (!policyId) throw new ArtifactForbiddenError('agent has no policy ID');
  const policy = await policies.get(policyId);
  if (!policy || !artifactsOf(policy).get(identifier)?.has(sha2)) throw new ArtifactForbiddenError('agent not authorized for artifact');
}

const sha256Hex = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Artifact bytes, from a bounded in-memory cache or the store. A store read is verified (record
 * and `encoded_sha256`) before it is cached or served. Concurrent requests for one artifact share
 * one read; at most `maxParallelFetches` reads run at once and requests past that get
 * `ArtifactThrottleError` (429). The cache holds at most `cacheMaxBytes`, least recently used
 * dropped first, each entry for `cacheTtlMs`.
 */
export class ArtifactFetcher {
  private readonly cache: BoundedCache<string, Buffer>;
  private readonly inFlight = new Map<string, Promise<Buffer>>();
  /** Store reads started (for tests and metrics). */
  storeReads = 0;

  constructor(
    private readonly store: FleetStore,
    private readonly config: ArtifactConfig,
    private readonly logger: Logger,
    now: () => number = Date.now,
  ) {
    this.cache = new BoundedCache({
      maxEntries: Number.MAX_SAFE_INTEGER,
      ttlMs: config.cacheTtlMs,
      maxWeight: config.cacheMaxBytes,
      weigh: (bytes) => bytes.length,
      now,
    });
  }

  get cacheBytes(): number {
    return this.cache.totalWeight;
  }

  async get(identifier: string, sha2: string): Promise<Buffer> {
    const key = `${identifier}\n${sha2}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    if (this.config.maxParallelFetches > 0 && this.inFlight.size >= this.config.maxParallelFetches) throw new ArtifactThrottleError();
    const read = this.read(identifier, sha2).then(
      (bytes) => {
        this.cache.set(key, bytes);
        return bytes;
      },
    ).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, read);
    return read;
  }

  private async read(identifier: string, sha2: string): Promise<Buffer> {
    this.storeReads += 1;
    const doc = await this.store.artifacts.get(identifier, sha2);
    if (!doc) throw new NotFoundError('artifact not found');
    const fields = { 'fleet.artifact.id': identifier, 'fleet.artifact.sha256': sha2 };
    if (doc.identifier !== identifier || doc.decoded_sha256 !== sha2) {
      this.logger.error(fields, 'artifact record does not match the request; not served');
      throw new ArtifactMismatchError('artifact record mismatch');
    }
    const bytes = Buffer.from(typeof doc.body === 'string' ? doc.body : '', 'base64');
    if (typeof doc.encoded_sha256 !== 'string' || sha256Hex(bytes) !== doc.encoded_sha256.toLowerCase()) {
      this.logger.error({ ...fields, encoded_sha256: doc.encoded_sha256 }, 'artifact body does not match its encoded_sha256; not served');
      throw new ArtifactMismatchError('mismatched sha256');
    }
    return bytes;
  }
}
