import { BackpressureError, type Logger, type ReasonCounter } from '@fleet/service-kit';
import type { AgentDoc, FleetStore } from '@fleet/store';
import type { StatusWriteConfig } from './gateway-config';

/**
 * Checkin status writes, coalesced per agent (last write wins, fields merged) and flushed as one
 * batch per interval, never one synchronous write per checkin. Bounded: when `maxPending` agents
 * are waiting, new ones are refused with 429 until a flush makes room. A failed flush puts its
 * entries back under any newer ones, so nothing is lost while the store is down; an entry the store
 * refuses for what it holds is dropped alone (logged and counted), never retried with its batch.
 */
export class StatusWriteBuffer {
  private pending = new Map<string, Partial<AgentDoc>>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  flushedBatches = 0;
  flushedWrites = 0;
  /** Writes the store refused for what they held: dropped alone, their batch landed. */
  droppedWrites = 0;

  constructor(
    private readonly store: FleetStore,
    private readonly config: StatusWriteConfig,
    private readonly logger: Logger,
    private readonly dropped?: ReasonCounter,
  ) {
    this.timer = setInterval(() => void this.flush(), config.flushIntervalMs);
    this.timer.unref();
  }

  get size(): number {
    return this.pending.size;
  }

  /** Queues fields for an agent; throws BackpressureError when the buffer is full. */
  queue(agentId: string, fields: Partial<AgentDoc>): void {
    const existing = this.pending.get(agentId);
    if (!existing && this.pending.size >= this.config.maxPending) {
      throw new BackpressureError('too many pending status writes', Math.ceil(this.config.flushIntervalMs / 1000) + 1);
    }
    this.pending.set(agentId, existing ? { ...existing, ...fields } : fields);
  }

  /** Writes everything queued so far as one batch. Concurrent callers share the running flush. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.size === 0) return Promise.resolve();
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.write(batch).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Flushes what is left and stops the timer. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }

  private async write(batch: Map<string, Partial<AgentDoc>>): Promise<void> {
    const updates = [...batch].map(([id, fields]) => ({ id, fields }));
    try {
      const outcomes = await this.store.agents.updateMany(updates);
      this.flushedBatches += 1;
      this.flushedWrites += updates.length;
      const missing = outcomes.filter((o) => o === 'not_found').length;
      if (missing) this.logger.debug({ missing }, 'status writes for deleted agents dropped');
      const rejected = updates.filter((_, i) => outcomes[i] === 'rejected').map((u) => u.id);
      if (rejected.length) {
        this.droppedWrites += rejected.length;
        this.dropped?.inc({ reason: 'rejected' }, rejected.length);
        this.logger.error({ agents: rejected.slice(0, 20), count: rejected.length }, 'status writes rejected by the store and dropped');
      }
    } catch (err) {
      this.logger.warn({ err, agents: batch.size }, 'status flush failed; will retry');
      for (const [id, fields] of batch) {
        const newer = this.pending.get(id);
        this.pending.set(id, newer ? { ...fields, ...newer } : fields);
      }
    }
  }
}
