import type { NextFunction, Request, Response } from 'express';
import { MaxLimitError, RateLimitError } from './errors';

export interface RouteLimit {
  /** Token refill interval in ms (0 disables the rate limit). */
  intervalMs: number;
  /** Bucket size. */
  burst: number;
  /** Concurrent requests allowed (0: unlimited). */
  max: number;
}

/**
 * elastic/fleet-server's per-route limiter: a token bucket, then a concurrency cap. Both run before
 * the handler touches the store; refusals are 429 with Retry-After.
 */
export class RouteLimiter {
  private tokens: number;
  private lastRefill = Date.now();
  private active = 0;

  constructor(private readonly limit: RouteLimit) {
    this.tokens = limit.burst;
  }

  get inFlight(): number {
    return this.active;
  }

  /** Takes a slot; returns its release function. Throws RateLimitError or MaxLimitError. */
  acquire(): () => void {
    if (this.limit.intervalMs > 0) {
      const now = Date.now();
      const refill = Math.floor((now - this.lastRefill) / this.limit.intervalMs);
      if (refill > 0) {
        this.tokens = Math.min(this.limit.burst, this.tokens + refill);
        this.lastRefill += refill * this.limit.intervalMs;
        if (this.tokens === this.limit.burst) this.lastRefill = now;
      }
      if (this.tokens < 1) throw new RateLimitError(Math.max(1, Math.ceil(this.limit.intervalMs / 1000)));
      this.tokens -= 1;
    }
    if (this.limit.max > 0 && this.active >= this.limit.max) throw new MaxLimitError(1);
    this.active += 1;
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.active -= 1;
      }
    };
  }

  /** Express middleware: the slot is released when the response finishes or the socket closes. */
  middleware() {
    return (_req: Request, res: Response, next: NextFunction): void => {
      const release = this.acquire();
      res.once('finish', release);
      res.once('close', release);
      next();
    };
  }
}
