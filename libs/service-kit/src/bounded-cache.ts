export interface BoundedCacheOptions<V> {
  /** Entries kept at most; the least recently used go first. */
  maxEntries: number;
  /** How long an entry is good for; undefined: until it is pushed out. */
  ttlMs?: number;
  /** A second bound, on the sum of `weigh(value)` (bytes, agent ids…); an entry heavier than it is not kept. */
  maxWeight?: number;
  weigh?: (value: V) => number;
  now?: () => number;
}

interface Slot<V> {
  value: V;
  expiresAt: number;
  weight: number;
}

/**
 * The process's one bounded cache: least recently used first out, by entry count and optionally by
 * weight, with an optional time to live. Every per-replica cache (verified keys, actions, artifacts,
 * ack tokens, policy re-reads) is one of these, so none can grow without bound.
 */
export class BoundedCache<K, V> {
  private readonly slots = new Map<K, Slot<V>>();
  private weight = 0;
  private readonly now: () => number;

  constructor(private readonly opts: BoundedCacheOptions<V>) {
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.slots.size;
  }

  /** The sum of the weights held. */
  get totalWeight(): number {
    return this.weight;
  }

  /** The value, if present and not expired; it becomes the most recently used. */
  get(key: K): V | undefined {
    const slot = this.slots.get(key);
    if (!slot) return undefined;
    this.slots.delete(key);
    if (slot.expiresAt <= this.now()) {
      this.weight -= slot.weight;
      return undefined;
    }
    this.slots.set(key, slot);
    return slot.value;
  }

  set(key: K, value: V): void {
    this.delete(key);
    const weight = this.opts.weigh?.(value) ?? 0;
    if (this.opts.maxWeight !== undefined && weight > this.opts.maxWeight) return;
    this.slots.set(key, { value, weight, expiresAt: this.opts.ttlMs === undefined ? Number.POSITIVE_INFINITY : this.now() + this.opts.ttlMs });
    this.weight += weight;
    while (this.slots.size > this.opts.maxEntries || (this.opts.maxWeight !== undefined && this.weight > this.opts.maxWeight)) {
      const oldest = this.slots.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
  }

  delete(key: K): boolean {
    const slot = this.slots.get(key);
    if (!slot) return false;
    this.slots.delete(key);
    this.weight -= slot.weight;
    return true;
  }

  clear(): void {
    this.slots.clear();
    this.weight = 0;
  }
}
