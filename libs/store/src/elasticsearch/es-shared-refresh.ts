import type { Client } from '@elastic/elasticsearch';
import { FreshCall } from '../fresh-call';

/**
 * Searchability of one index on demand, for the few searches that must see writes made without a
 * refresh (management listings, counts, sweeps, the enrollment-id lookup): writers only mark the
 * index dirty; a search first calls `searchable()`, which runs one refresh shared by concurrent
 * callers, and none at all when nothing was written here since the last one. A shared refresh
 * never answers a caller with a refresh that began before it asked (`FreshCall`). Per-document
 * writes never refresh.
 */
export class SharedRefresh {
  private dirty = true;
  /** The latest refresh started (settled, never rejecting), for callers with nothing new to wait on. */
  private last: Promise<void> = Promise.resolve();
  private readonly fresh = new FreshCall<void>();

  constructor(
    private readonly client: Client,
    private readonly index: string,
  ) {}

  /** A write happened here: the next search refreshes first. */
  touched(): void {
    this.dirty = true;
  }

  get isDirty(): boolean {
    return this.dirty;
  }

  /** Searchable up to every write this process made before the call. */
  searchable(): Promise<void> {
    return this.dirty ? this.refresh() : this.last;
  }

  /** A refresh begun after this call, so writes of other processes acknowledged before it are found too. */
  refresh(): Promise<void> {
    this.dirty = false;
    const run = this.fresh.run(this.index, async () => {
      await this.client.indices.refresh({ index: this.index, ignore_unavailable: true });
    });
    this.last = run.then(
      () => undefined,
      () => undefined,
    );
    return run.catch((err: unknown) => {
      this.dirty = true;
      throw err;
    });
  }
}
