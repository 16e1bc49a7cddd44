import type { Redis } from 'ioredis';

/** A small, flat record of figures (counts, rates, timestamps). */
export type BoardValue = Record<string, number | string>;

/** One replica's latest report on a topic. */
export interface BoardReport {
  replica_id: string;
  value: BoardValue;
}

/**
 * Small figures every replica reads, next to the notification bus and on the same medium (Redis
 * when the bus is Redis; this process's memory otherwise): each replica's latest report on a topic,
 * dropped when it outlives its TTL (a dead replica drops out), and bounded series of samples.
 * Nothing here is fleet state: losing it loses a chart, never an agent.
 */
export interface ClusterBoard {
  /** Records `replicaId`'s report on `topic`, kept for `ttlMs` unless reported again. */
  report(topic: string, replicaId: string, value: BoardValue, ttlMs: number): Promise<void>;
  /** The live reports on `topic` (at most `MAX_REPLICAS`). */
  reports(topic: string): Promise<BoardReport[]>;
  /** Appends to `series`, keeping only the newest `keep` entries. */
  append(series: string, value: BoardValue, keep: number): Promise<void>;
  /** The newest `limit` entries of `series`, oldest first. */
  recent(series: string, limit: number): Promise<BoardValue[]>;
}

/** Reports read per topic at most (replicas of one deployment). */
export const MAX_REPLICAS = 256;

/** The all-in-one board: maps in this process. */
export class InMemoryClusterBoard implements ClusterBoard {
  private readonly topics = new Map<string, Map<string, { value: BoardValue; expiresAt: number }>>();
  private readonly series = new Map<string, BoardValue[]>();

  report(topic: string, replicaId: string, value: BoardValue, ttlMs: number): Promise<void> {
    let reports = this.topics.get(topic);
    if (!reports) {
      reports = new Map<string, { value: BoardValue; expiresAt: number }>();
      this.topics.set(topic, reports);
    }
    reports.set(replicaId, { value, expiresAt: Date.now() + ttlMs });
    return Promise.resolve();
  }

  reports(topic: string): Promise<BoardReport[]> {
    const reports = this.topics.get(topic);
    const out: BoardReport[] = [];
    const now = Date.now();
    for (const [replica_id, r] of reports ?? []) {
      if (r.expiresAt <= now) reports?.delete(replica_id);
      else if (out.length < MAX_REPLICAS) out.push({ replica_id, value: r.value });
    }
    return Promise.resolve(out);
  }

  append(series: string, value: BoardValue, keep: number): Promise<void> {
    const entries = this.series.get(series) ?? [];
    entries.push(value);
    if (entries.length > keep) entries.splice(0, entries.length - keep);
    this.series.set(series, entries);
    return Promise.resolve();
  }

  recent(series: string, limit: number): Promise<BoardValue[]> {
    const entries = this.series.get(series) ?? [];
    return Promise.resolve(limit > 0 ? entries.slice(-limit) : []);
  }
}

const parseValue = (raw: string | null): BoardValue | undefined => {
  if (raw === null) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as BoardValue) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The board on Redis: a report is its own key with a TTL (Redis expires it, whatever the replicas'
 * clocks say), listed in a set per topic; a series is a capped list.
 */
export class RedisClusterBoard implements ClusterBoard {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'fleet:board',
  ) {}

  async report(topic: string, replicaId: string, value: BoardValue, ttlMs: number): Promise<void> {
    const members = `${this.prefix}:${topic}`;
    await this.redis
      .multi()
      .set(`${members}:${replicaId}`, JSON.stringify(value), 'PX', Math.max(1, Math.round(ttlMs)))
      .sadd(members, replicaId)
      .exec();
  }

  async reports(topic: string): Promise<BoardReport[]> {
    const members = `${this.prefix}:${topic}`;
    const replicas = (await this.redis.srandmember(members, MAX_REPLICAS)).sort();
    if (!replicas.length) return [];
    const raw = await this.redis.mget(replicas.map((r) => `${members}:${r}`));
    const out: BoardReport[] = [];
    const gone: string[] = [];
    replicas.forEach((replica_id, i) => {
      const value = parseValue(raw[i] ?? null);
      if (value) out.push({ replica_id, value });
      else gone.push(replica_id);
    });
    if (gone.length) await this.redis.srem(members, ...gone);
    return out;
  }

  async append(series: string, value: BoardValue, keep: number): Promise<void> {
    const key = `${this.prefix}:series:${series}`;
    await this.redis.multi().rpush(key, JSON.stringify(value)).ltrim(key, -Math.max(1, keep), -1).exec();
  }

  async recent(series: string, limit: number): Promise<BoardValue[]> {
    if (limit <= 0) return [];
    const raw = await this.redis.lrange(`${this.prefix}:series:${series}`, -limit, -1);
    return raw.map(parseValue).filter((v): v is BoardValue => v !== undefined);
  }
}
