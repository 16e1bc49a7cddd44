import type { Client } from '@elastic/elasticsearch';

/**
 * Searchability of one index on demand, for the few searches that must see writes made without a
 * refresh (management listings, counts, sweeps): writers only mark the index dirty; a search
 * first calls `searchable()`, which runs ONE refresh shared by every concurrent caller, and none at
 * all when nothing was written since the last one. Per-document writes never refresh.
 */
export class SharedRefresh {
  private dirty = true;
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: Client,
    private readonly index: string,
  ) {}

  /** A write happened: the next search refreshes first. */
  touched(): void {
    this.dirty = true;
  }

  get isDirty(): boolean {
    return this.dirty;
  }

  searchable(): Promise<void> {
    if (!this.dirty) return this.running ?? Promise.resolve();
    this.running ??= (async () => {
      this.dirty = false;
      try {
        await this.client.indices.refresh({ index: this.index, ignore_unavailable: true });
      } catch (err) {
        this.dirty = true;
        throw err;
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }
}
