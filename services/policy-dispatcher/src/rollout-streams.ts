import { MaxLimitError, type Logger } from '@fleet/service-kit';
import type { ServerResponse } from 'node:http';
import { targetKey, type RolloutSnapshot, type RolloutTarget } from './rollout-progress';

export interface RolloutStreamConfig {
  /** Open streams per replica at most; past it, 429. */
  maxStreams: number;
  /** A stream ends after this long (the browser's EventSource reconnects). */
  maxDurationMs: number;
  /** How often a watched rollout is computed again. */
  intervalMs: number;
  /** A `: keepalive` comment this often, so proxies keep an idle stream open. */
  keepaliveMs: number;
}

type Send = (json: string) => void;

/** One rollout watched by this replica: computed once per tick for all its streams. */
interface Watch {
  target: RolloutTarget;
  /** Streams open or being opened on it: the watch goes with the last. */
  members: number;
  streams: Set<Send>;
  timer: NodeJS.Timeout | undefined;
  /** The last snapshot sent, as JSON, and the same without `sampled_at` (to see a change). */
  last: { json: string; state: string } | undefined;
  computing: Promise<{ json: string; state: string }> | undefined;
}

const stateOf = (s: RolloutSnapshot): string => JSON.stringify({ ...s, sampled_at: undefined });

/**
 * Live rollout progress as server-sent events. Every stream of one rollout on this replica shares
 * one computation per tick (N browsers watching = one store query per tick), and an event goes out
 * only when the snapshot changed. Bounded: streams per replica, each stream's duration; a stream's
 * timers and its share of the watch go when the client leaves, and the watch's timer with its
 * last stream.
 */
export class RolloutStreams {
  private readonly watches = new Map<string, Watch>();
  private readonly ends = new Set<() => void>();
  private reserved = 0;
  /** Snapshots computed (all rollouts): one per watched rollout per tick, however many streams. */
  computations = 0;

  constructor(
    private readonly compute: (target: RolloutTarget) => Promise<RolloutSnapshot>,
    private readonly config: RolloutStreamConfig,
    private readonly logger: Logger,
  ) {}

  /** Streams open (or being opened) on this replica. */
  get openStreams(): number {
    return this.reserved;
  }

  /** Rollouts with a tick running. */
  get watchedRollouts(): number {
    return this.watches.size;
  }

  /**
   * Answers `res` with a stream of `target`'s progress: the first event at once, then each change.
   * Rejects before anything is written (MaxLimitError when full, the computation's error, e.g.
   * NotFoundError); resolves once the stream is open.
   */
  async open(res: ServerResponse, target: RolloutTarget): Promise<void> {
    if (this.reserved >= this.config.maxStreams) throw new MaxLimitError(Math.ceil(this.config.keepaliveMs / 1000));
    this.reserved += 1;
    const key = targetKey(target);
    const watch = this.watch(key, target);
    watch.members += 1;
    const send: Send = (json) => res.write(`event: progress\ndata: ${json}\n\n`);
    const leave = () => {
      watch.streams.delete(send);
      watch.members -= 1;
      if (watch.members === 0) this.unwatch(key, watch);
    };
    let first: { json: string; state: string };
    try {
      first = watch.last ?? (await this.refresh(watch));
      watch.last ??= first;
    } catch (err) {
      this.reserved -= 1;
      leave();
      throw err;
    }
    if (res.destroyed || res.writableEnded) {
      this.reserved -= 1;
      leave();
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    // The client reconnects after a few seconds when the stream ends (its duration, a restart).
    res.write(`retry: 3000\n\nevent: progress\ndata: ${first.json}\n\n`);
    watch.streams.add(send);
    this.startTicking(watch);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), this.config.keepaliveMs);
    const expiry = setTimeout(() => res.end(), this.config.maxDurationMs);
    const end = () => res.end();
    this.ends.add(end);
    res.once('close', () => {
      clearInterval(keepalive);
      clearTimeout(expiry);
      this.ends.delete(end);
      this.reserved -= 1;
      leave();
    });
  }

  /** Ends every stream (shutdown); their clients reconnect elsewhere. */
  close(): void {
    for (const end of [...this.ends]) end();
  }

  private watch(key: string, target: RolloutTarget): Watch {
    let watch = this.watches.get(key);
    if (!watch) {
      watch = { target, members: 0, streams: new Set(), timer: undefined, last: undefined, computing: undefined };
      this.watches.set(key, watch);
    }
    return watch;
  }

  private unwatch(key: string, watch: Watch): void {
    clearInterval(watch.timer);
    watch.timer = undefined;
    if (this.watches.get(key) === watch) this.watches.delete(key);
  }

  private startTicking(watch: Watch): void {
    if (watch.timer) return;
    watch.timer = setInterval(() => void this.tick(watch), this.config.intervalMs);
  }

  /** One computation, shared by whoever asks while it runs. */
  private refresh(watch: Watch): Promise<{ json: string; state: string }> {
    if (!watch.computing) this.computations += 1;
    watch.computing ??= this.compute(watch.target)
      .then((snapshot) => ({ json: JSON.stringify(snapshot), state: stateOf(snapshot) }))
      .finally(() => {
        watch.computing = undefined;
      });
    return watch.computing;
  }

  private async tick(watch: Watch): Promise<void> {
    if (watch.computing || !watch.streams.size) return;
    try {
      const next = await this.refresh(watch);
      if (next.state === watch.last?.state) return;
      watch.last = next;
      for (const send of watch.streams) send(next.json);
    } catch (err) {
      this.logger.warn({ err, rollout: targetKey(watch.target) }, 'rollout progress not computed; retrying at the next tick');
    }
  }
}
