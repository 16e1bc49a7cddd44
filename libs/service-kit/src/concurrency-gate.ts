import { BackpressureError } from './errors';

export interface ConcurrencyGateLimits {
  /** Tasks running at once. */
  concurrency: number;
  /** Tasks waiting for a slot at most; one more is refused with 429 at once. */
  maxQueued: number;
}

/**
 * Bounded concurrency for work that occupies one of libuv's few threadpool threads for a long
 * time (a PBKDF2 hash at 210,000 iterations takes a thread for a fifth of a second). Without it,
 * a burst of such calls fills the pool and every gzip, file or DNS call behind it waits; with it,
 * at most `concurrency` threads are taken, a bounded queue waits, and the rest are refused with
 * `BackpressureError` (429 + Retry-After) before any work starts.
 */
export class ConcurrencyGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limits: ConcurrencyGateLimits,
    private readonly what: string,
  ) {}

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limits.concurrency) {
      if (this.waiting.length >= this.limits.maxQueued) throw new BackpressureError(`too many ${this.what} in progress`, 1);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.active += 1;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so `active` only drops when nobody waits.
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}
