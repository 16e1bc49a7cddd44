import type { Client } from '@elastic/elasticsearch';
import { call, statusOf } from './es-client';

/** An index that does not exist (yet): its checkpoint is -1. */
const notFound = (err: unknown): boolean => statusOf(err) === 404 || statusOf((err as { cause?: unknown }).cause) === 404;

/**
 * `_seq_no` bookkeeping of one single-shard index. The global checkpoint comes from the fleet
 * module's `_fleet/global_checkpoints` when it is installed, else from the shard stats. Every
 * operation at or below a checkpoint is durable; after a refresh it is also searchable. So a search
 * bounded by a checkpoint that was refreshed never skips a document that a later search would find
 * below it, even while writes race.
 */
export class SeqNoFeed {
  private visibleUpTo = -1;
  private checkedAt = 0;
  private pending: Promise<number> | undefined;
  private dirty = true;

  constructor(
    private readonly client: Client,
    private readonly index: string,
    private readonly fleetApi: boolean,
    /** How long a visibility check may be reused (bounds stats calls on hot paths). */
    private readonly reuseMs: number,
  ) {}

  /** The current global checkpoint (-1 when the index does not exist or is empty). */
  async checkpoint(): Promise<number> {
    if (this.fleetApi) {
      const res = await call(() =>
        this.client.transport.request<{ global_checkpoints: number[] }>({
          method: 'GET',
          path: `/${encodeURIComponent(this.index)}/_fleet/global_checkpoints`,
        }),
      ).catch((err: unknown) => {
        if (notFound(err)) return { global_checkpoints: [-1] };
        throw err;
      });
      return res.global_checkpoints[0] ?? -1;
    }
    try {
      const stats = await call(() =>
        this.client.indices.stats({ index: this.index, level: 'shards', filter_path: ['indices.*.shards.*.seq_no.global_checkpoint'] }),
      );
      let best = -1;
      for (const idx of Object.values(stats.indices ?? {})) {
        for (const copies of Object.values(idx.shards ?? {})) {
          for (const copy of copies as { seq_no?: { global_checkpoint?: number } }[]) {
            best = Math.max(best, copy.seq_no?.global_checkpoint ?? -1);
          }
        }
      }
      return best;
    } catch (err) {
      if (notFound(err)) return -1;
      throw err;
    }
  }

  /** Marks that a write happened here: the next `visible` call checks again. */
  touched(): void {
    this.dirty = true;
  }

  /**
   * A checkpoint up to which every document is searchable now, refreshing when needed. With
   * `fresh` it always reads the checkpoint; otherwise a result younger than `reuseMs` is reused.
   */
  visible(fresh = false): Promise<number> {
    if (!fresh && !this.dirty && Date.now() - this.checkedAt < this.reuseMs) return Promise.resolve(this.visibleUpTo);
    this.pending ??= this.advance().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async advance(): Promise<number> {
    this.dirty = false;
    const checkpoint = await this.checkpoint();
    if (checkpoint > this.visibleUpTo) {
      await call(() => this.client.indices.refresh({ index: this.index, ignore_unavailable: true }));
      this.visibleUpTo = checkpoint;
    }
    this.checkedAt = Date.now();
    return this.visibleUpTo;
  }
}
