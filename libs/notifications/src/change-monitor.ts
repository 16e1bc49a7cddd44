import type { SpanContext } from '@fleet/telemetry';

/** One change of an ordered feed: a document and its position (`_seq_no`). */
export interface FeedChange<T> {
  _id: string;
  _seq_no: number;
  _source: T;
}

/**
 * A collection whose writes are numbered in commit order with no holes below its checkpoint
 * (`.fleet-policies` and `.fleet-actions`: `_seq_no` on Elasticsearch, a sequence on SQLite).
 * `changesSince` answers only what is visible, so it may trail a write that was just acknowledged.
 */
export interface OrderedFeed<T> {
  checkpoint(): Promise<number>;
  changesSince(afterSeqNo: number, limit: number): Promise<FeedChange<T>[]>;
}

/**
 * What a monitor does with the changes it reads, in order. `cause` is the span of the notification
 * that asked for the read, when one did; without it the read is the monitor's own poll. Returns how
 * many long polls it woke (0 on a publishing side).
 */
export type ChangeHandler<T> = (changes: FeedChange<T>[], cause: SpanContext | undefined) => Promise<number> | number;

/** The logger a monitor needs (pino's satisfies it). */
export interface MonitorLogger {
  warn(obj: object, msg: string): void;
}

export interface FeedCursorOptions {
  /** Changes read per request. */
  page: number;
  /**
   * How long `reach` keeps reading while the position it was told about is not visible yet. After
   * that the change is left to the next periodic read.
   */
  visibilityMs: number;
}

export const DEFAULT_CURSOR: FeedCursorOptions = { page: 1000, visibilityMs: 2_000 };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A position in one ordered feed and the loop that moves it: every change after the position is
 * read, page by page, and handed to the handler in order; the position moves past a page only once
 * the handler has finished with it, so a failure is read again, never skipped. Concurrent reads
 * share one loop, and a read asked for while one runs makes the loop go round once more (that read
 * may have started before the change it was asked for became visible).
 */
export class FeedCursor<T> {
  private position: number | undefined;
  private running: Promise<number> | undefined;
  private again = false;
  /** Cause of the reads asked for while the loop runs, taken by its next round. */
  private queuedCause: SpanContext | undefined;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly feed: OrderedFeed<T>,
    private readonly handle: ChangeHandler<T>,
    private readonly logger: MonitorLogger,
    private readonly opts: FeedCursorOptions = DEFAULT_CURSOR,
  ) {}

  /** Where this cursor stands: every change up to here was handled. Undefined before the first read. */
  get at(): number | undefined {
    return this.position;
  }

  /** Starts at the feed's checkpoint: history is not replayed. */
  async start(): Promise<void> {
    this.position ??= await this.feed.checkpoint();
  }

  close(): void {
    this.closed = true;
  }

  /** Reads every visible change after the position. Resolves with the polls woken; rejects on a store failure. */
  read(cause?: SpanContext): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    if (this.running) {
      this.again = true;
      if (cause) this.queuedCause = cause;
      return this.running;
    }
    this.queuedCause = cause;
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Reads until the change at `seqNo` has been handled: the one rule for "written, but not visible
   * yet". While the feed does not show it, reads are repeated with a growing pause, for at most
   * `visibilityMs`; then it is left to the next periodic read (logged). Never rejects.
   */
  async reach(seqNo: number, cause?: SpanContext): Promise<number> {
    // Not started yet (the store was away): begin just before the change we are told about.
    if (this.position === undefined) {
      try {
        this.position ??= Math.min(await this.feed.checkpoint(), seqNo - 1);
      } catch (err) {
        this.logger.warn({ err, feed: this.name }, 'change feed checkpoint failed; the periodic read will retry');
        return 0;
      }
    }
    const deadline = Date.now() + this.opts.visibilityMs;
    let woken = 0;
    for (let attempt = 0; !this.closed; attempt++) {
      if ((this.position ?? -1) >= seqNo) return woken;
      try {
        woken += await this.read(cause);
      } catch (err) {
        this.logger.warn({ err, feed: this.name }, 'change feed read failed; the periodic read will retry');
        return woken;
      }
      if ((this.position ?? -1) >= seqNo) return woken;
      if (Date.now() >= deadline) {
        this.logger.warn({ feed: this.name, seq_no: seqNo, at: this.position }, 'announced change not visible yet; the periodic read will find it');
        return woken;
      }
      await sleep(Math.min(25 * 2 ** attempt, 250));
    }
    return woken;
  }

  private async loop(): Promise<number> {
    let woken = 0;
    do {
      this.again = false;
      const cause = this.queuedCause;
      this.queuedCause = undefined;
      if (this.position === undefined) {
        this.position = await this.feed.checkpoint();
        continue;
      }
      for (;;) {
        const changes = await this.feed.changesSince(this.position, this.opts.page);
        if (this.closed) return woken;
        if (changes.length) woken += await this.handle(changes, cause);
        const last = changes[changes.length - 1];
        if (last) this.position = last._seq_no;
        if (changes.length < this.opts.page) break;
      }
    } while (this.again && !this.closed);
    return woken;
  }
}

/** The fields of a policy revision the monitor reads. */
export interface RevisionLike {
  policy_id: string;
  revision_idx: number;
}

/**
 * The newest revision of each policy among `changes`, skipping any not newer than `known` says:
 * several revisions of one policy read together are handled once, as the latest.
 */
export function latestRevisions<T extends RevisionLike>(changes: FeedChange<T>[], known: (policyId: string) => number | undefined): FeedChange<T>[] {
  const latest = new Map<string, FeedChange<T>>();
  for (const c of changes) {
    const { policy_id: id, revision_idx: revision } = c._source;
    if (revision <= (known(id) ?? -1)) continue;
    const seen = latest.get(id);
    if (!seen || revision > seen._source.revision_idx) latest.set(id, c);
  }
  return [...latest.values()];
}

export interface ChangeMonitorOptions {
  /** The backstop: both feeds are read this often, so a lost notification only delays a change. */
  pollIntervalMs: number;
  cursor?: Partial<FeedCursorOptions>;
}

/**
 * "The store changed, so act on it", in one place: a cursor in the policy-revision feed and one in
 * the action feed, read on demand (a local write, a notification naming a position) and on a timer.
 * The policy-dispatcher runs one to publish what it reads; every checkin gateway runs one to wake the
 * long polls a change concerns. A notification only says how far a feed has advanced; what changed
 * is always read from the feed, so both paths (notification and timer) deliver the same way.
 */
export class ChangeMonitor<P extends RevisionLike, A> {
  readonly policies: FeedCursor<P>;
  readonly actions: FeedCursor<A>;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;

  constructor(
    feeds: { policies: OrderedFeed<P>; actions: OrderedFeed<A> },
    handlers: { policies: ChangeHandler<P>; actions: ChangeHandler<A> },
    private readonly logger: MonitorLogger,
    private readonly opts: ChangeMonitorOptions,
  ) {
    const cursor = { ...DEFAULT_CURSOR, ...opts.cursor };
    this.policies = new FeedCursor('policies', feeds.policies, handlers.policies, logger, cursor);
    this.actions = new FeedCursor('actions', feeds.actions, handlers.actions, logger, cursor);
  }

  /** Takes both feeds' checkpoints (when the store answers) and starts the periodic read. */
  async start(): Promise<void> {
    try {
      await this.policies.start();
      await this.actions.start();
    } catch (err) {
      this.logger.warn({ err }, 'change feeds not readable yet; positions are taken at the next read');
    }
    if (this.closed) return;
    this.timer = setInterval(() => void this.poll(), this.opts.pollIntervalMs);
    this.timer.unref();
  }

  /** Reads both feeds now (shared with a read already running). Never rejects. */
  poll(): Promise<void> {
    this.polling ??= (async () => {
      for (const cursor of [this.policies, this.actions]) {
        await cursor.read().catch((err: unknown) => this.logger.warn({ err, feed: cursor.name }, 'change feed read failed; will retry'));
      }
    })().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  /** Idempotent; waits for a read in progress. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.policies.close();
    this.actions.close();
    await this.polling;
  }
}
