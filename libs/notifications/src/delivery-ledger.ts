import type { Redis } from 'ioredis';

/** Something a gateway sends agents and the console follows: a policy revision or an action. */
export type RolloutRef = { kind: 'policy'; policyId: string; revision: number } | { kind: 'action'; actionId: string };

/** The ledger's name for a rollout (the Redis key after the prefix). */
export function rolloutKey(ref: RolloutRef): string {
  return ref.kind === 'policy' ? `policy:${ref.policyId}:${ref.revision}` : `action:${ref.actionId}`;
}

/**
 * Which agents were sent which rollout, shared by every replica: gateways record, the console's
 * progress reads. `record` does no I/O (it runs on the checkin path); what it notes is written in
 * one batch per tick. Best effort: a record lost (Redis away, a full buffer) only makes "delivered"
 * lag, and readers never count fewer than the acknowledgements they see.
 */
export interface DeliveryLedger {
  /** Notes that `agentId` was just sent `refs`. Synchronous and bounded; never throws. */
  record(agentId: string, refs: readonly RolloutRef[]): void;
  /** Distinct agents recorded as sent `ref` (by any replica, once written). Rejects when the ledger is unreachable. */
  deliveredCount(ref: RolloutRef): Promise<number>;
  /** Writes what is noted so far. */
  flush(): Promise<void>;
  /** Flushes and stops (the bus that owns it calls this before it closes). Idempotent. */
  close(): Promise<void>;
}

/** How long a rollout's record is kept after its last delivery. */
export const DELIVERY_RECORD_TTL_MS = 24 * 3_600_000;

/**
 * The all-in-one ledger (in-process bus): one set of agent ids per rollout, in memory. Bounded:
 * records expire after `ttlMs` without a delivery, and past `maxRollouts` the oldest is forgotten.
 */
export class InProcessDeliveryLedger implements DeliveryLedger {
  private readonly rollouts = new Map<string, { agents: Set<string>; touchedAt: number }>();

  constructor(private readonly opts: { ttlMs?: number; maxRollouts?: number; now?: () => number } = {}) {}

  record(agentId: string, refs: readonly RolloutRef[]): void {
    const now = this.now();
    for (const ref of refs) {
      const key = rolloutKey(ref);
      let entry = this.rollouts.get(key);
      if (entry) this.rollouts.delete(key);
      entry ??= { agents: new Set(), touchedAt: now };
      entry.agents.add(agentId);
      entry.touchedAt = now;
      // Re-inserted: the map's order is the order of last delivery, oldest first.
      this.rollouts.set(key, entry);
    }
    this.prune(now);
  }

  deliveredCount(ref: RolloutRef): Promise<number> {
    this.prune(this.now());
    return Promise.resolve(this.rollouts.get(rolloutKey(ref))?.agents.size ?? 0);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.rollouts.clear();
    return Promise.resolve();
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private prune(now: number): void {
    const ttl = this.opts.ttlMs ?? DELIVERY_RECORD_TTL_MS;
    const max = this.opts.maxRollouts ?? 10_000;
    for (const [key, entry] of this.rollouts) {
      if (this.rollouts.size <= max && now - entry.touchedAt <= ttl) break;
      this.rollouts.delete(key);
    }
  }
}

export interface RedisLedgerOptions {
  /**
   * The connection to write and read on, owned by the caller (the bus's publishing connection:
   * commands fail fast while Redis is away, nothing queues).
   */
  redis: Redis;
  /** Key prefix, e.g. the bus channel: deployments sharing a Redis do not mix. */
  prefix: string;
  ttlMs?: number;
  /** Noted deliveries are written this often (one pipeline). */
  flushIntervalMs?: number;
  /** Noted (agent, rollout) pairs waiting for the next write at most; past it new ones are dropped. */
  maxPending?: number;
  /** Called with failures the ledger absorbs (a write while Redis is away). */
  onError?: (err: Error, context: string) => void;
}

/** Members per SADD, so one command stays small. */
const SADD_CHUNK = 1_000;

/**
 * The ledger of several replicas: one Redis SET of agent ids per rollout, with an expiry renewed on
 * each write. Deliveries are noted in memory and written once per tick in one pipeline, never on
 * the checkin path. It rides on the bus's publishing connection (`bus.ledger`), which fails fast
 * while Redis is away; what a failed write held is dropped and counted.
 */
export class RedisDeliveryLedger implements DeliveryLedger {
  private readonly redis: Redis;
  private pending = new Map<string, Set<string>>();
  private pendingPairs = 0;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Pairs dropped: the buffer was full or their write failed. */
  dropped = 0;

  constructor(private readonly opts: RedisLedgerOptions) {
    this.redis = opts.redis;
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 250);
    this.timer.unref();
  }

  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  record(agentId: string, refs: readonly RolloutRef[]): void {
    if (this.closing) return;
    for (const ref of refs) {
      const key = rolloutKey(ref);
      let agents = this.pending.get(key);
      if (agents?.has(agentId)) continue;
      if (this.pendingPairs >= (this.opts.maxPending ?? 100_000)) {
        this.dropped += 1;
        continue;
      }
      if (!agents) this.pending.set(key, (agents = new Set()));
      agents.add(agentId);
      this.pendingPairs += 1;
    }
  }

  async deliveredCount(ref: RolloutRef): Promise<number> {
    return this.redis.scard(this.opts.prefix + rolloutKey(ref));
  }

  /** Writes what is noted now; concurrent callers share the running write. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pendingPairs === 0) return Promise.resolve();
    const batch = this.pending;
    const pairs = this.pendingPairs;
    this.pending = new Map();
    this.pendingPairs = 0;
    this.flushing = this.write(batch)
      .catch((err: unknown) => {
        this.dropped += pairs;
        this.opts.onError?.(err instanceof Error ? err : new Error(String(err)), 'write');
      })
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  /** Stops the timer and writes what is noted; the connection stays open (its owner closes it). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      await this.flushing;
      if (this.redis.status === 'ready') await this.flush();
    })();
    return this.closing;
  }

  private async write(batch: Map<string, Set<string>>): Promise<void> {
    const ttlSeconds = Math.ceil((this.opts.ttlMs ?? DELIVERY_RECORD_TTL_MS) / 1000);
    const pipeline = this.redis.pipeline();
    for (const [key, agents] of batch) {
      const ids = [...agents];
      for (let i = 0; i < ids.length; i += SADD_CHUNK) pipeline.sadd(this.opts.prefix + key, ...ids.slice(i, i + SADD_CHUNK));
      pipeline.expire(this.opts.prefix + key, ttlSeconds);
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }
}
