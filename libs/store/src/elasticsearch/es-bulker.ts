import type { Client } from '@elastic/elasticsearch';
import { StoreOverloadedError } from '../errors';
import { isTransient, translate } from './es-client';
import type { BulkWriteListener } from '../store-port';

export interface BulkOp {
  action: 'create' | 'index' | 'delete';
  index: string;
  id: string;
  doc?: object;
  ifSeqNo?: number;
  ifPrimaryTerm?: number;
}

export interface BulkResult {
  status: number;
  errorType?: string;
  seqNo?: number;
}

export interface BulkerOptions {
  /** A batch is sent this long after its first operation arrives (reference: 250 ms). */
  flushIntervalMs: number;
  /** ... or as soon as it holds this many operations. */
  maxBatchOps: number;
  /** Operations waiting or in flight at most; past it, submissions fail with 429 at once. */
  maxPendingOps: number;
  /** Retries of a batch (or of its 429 items) on transient failures, with exponential backoff. */
  maxRetries: number;
  retryBaseMs: number;
}

export const DEFAULT_BULKER: BulkerOptions = {
  flushIntervalMs: 250,
  maxBatchOps: 2048,
  maxPendingOps: 100_000,
  maxRetries: 6,
  retryBaseMs: 200,
};

interface Waiting {
  op: BulkOp;
  /** The op's NDJSON lines, serialized on submission so that one bad document fails alone. */
  lines: string[];
  resolve: (r: BulkResult) => void;
  reject: (e: Error) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Groups writes from concurrent callers into `_bulk` requests. Memory is bounded by
 * `maxPendingOps`; only transient failures (connection, 5xx, 429, per-item rejections) are retried,
 * with backoff; anything else is returned to its caller as its own item result.
 */
export class EsBulker {
  private queue: Waiting[] = [];
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly listeners = new Set<BulkWriteListener>();
  batches = 0;

  constructor(
    private readonly client: Client,
    private readonly opts: BulkerOptions = DEFAULT_BULKER,
  ) {}

  get pendingOps(): number {
    return this.pending;
  }

  onBulk(listener: BulkWriteListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private report(started: bigint, operations: number, ok: boolean): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    for (const l of this.listeners) l({ seconds, operations, ok });
  }

  /**
   * Queues `ops`. `urgent`: a caller that waits for the write before it answers (and batched
   * already, like the guarded writer): the batch goes out now, with whatever else is queued.
   */
  submit(ops: BulkOp[], opts?: { urgent?: boolean }): Promise<BulkResult[]> {
    if (ops.length === 0) return Promise.resolve([]);
    if (this.closed) return Promise.reject(new StoreOverloadedError('bulker is closed'));
    if (this.pending + ops.length > this.opts.maxPendingOps) {
      return Promise.reject(new StoreOverloadedError(`too many pending writes (${this.pending})`));
    }
    this.pending += ops.length;
    const results = ops.map((op) => {
      let lines: string[];
      try {
        lines = encode(op);
      } catch (err) {
        // A document that cannot be serialized (too deep, a cycle, a BigInt) is this item's
        // failure, never its batch's: it is answered like a document Elasticsearch refused.
        this.pending -= 1;
        const type = err instanceof RangeError ? 'document_too_deep' : 'serialization_exception';
        return Promise.resolve<BulkResult>({ status: 400, errorType: type });
      }
      return new Promise<BulkResult>((resolve, reject) => {
        this.queue.push({ op, lines, resolve, reject });
      });
    });
    if (opts?.urgent || this.queue.length >= this.opts.maxBatchOps) this.flushSoon(0);
    else this.flushSoon(this.opts.flushIntervalMs);
    return Promise.all(results);
  }

  /** Sends everything queued now and waits for it. */
  async drain(): Promise<void> {
    while (this.queue.length) await this.sendBatch();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.drain();
  }

  private flushSoon(delayMs: number): void {
    if (this.timer && delayMs > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sendBatch().then(() => {
        if (this.queue.length) this.flushSoon(0);
      });
    }, delayMs);
  }

  private async sendBatch(): Promise<void> {
    const batch = this.queue.splice(0, this.opts.maxBatchOps);
    if (!batch.length) return;
    this.batches += 1;
    let todo = batch;
    for (let attempt = 0; todo.length; attempt++) {
      const retry: Waiting[] = [];
      const started = process.hrtime.bigint();
      try {
        const res = await this.client.bulk({ operations: todo.flatMap((w) => w.lines), refresh: false });
        this.report(started, todo.length, true);
        res.items.forEach((item, i) => {
          const w = todo[i];
          if (!w) return;
          const r = Object.values(item)[0];
          const status = r?.status ?? 500;
          if ((status === 429 || status >= 500) && attempt < this.opts.maxRetries) {
            retry.push(w);
            return;
          }
          this.settle(w, { status, ...(r?.error?.type ? { errorType: r.error.type } : {}), ...(r?._seq_no !== undefined ? { seqNo: r._seq_no } : {}) });
        });
      } catch (err) {
        this.report(started, todo.length, false);
        if (isTransient(err) && attempt < this.opts.maxRetries) retry.push(...todo);
        else {
          const failure = translate(err);
          for (const w of todo) this.fail(w, failure);
        }
      }
      todo = retry;
      if (todo.length) await sleep(this.opts.retryBaseMs * 2 ** attempt);
    }
  }

  private settle(w: Waiting, r: BulkResult): void {
    this.pending -= 1;
    w.resolve(r);
  }

  private fail(w: Waiting, err: Error): void {
    this.pending -= 1;
    w.reject(err);
  }
}

/** The op as NDJSON lines (the client passes strings through as they are). */
function encode(op: BulkOp): string[] {
  const meta: Record<string, unknown> = { _index: op.index, _id: op.id };
  if (op.ifSeqNo !== undefined) meta.if_seq_no = op.ifSeqNo;
  if (op.ifPrimaryTerm !== undefined) meta.if_primary_term = op.ifPrimaryTerm;
  const head = JSON.stringify({ [op.action]: meta });
  return op.action === 'delete' ? [head] : [head, JSON.stringify(op.doc ?? {})];
}
