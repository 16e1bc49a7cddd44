import type { Client } from '@elastic/elasticsearch';
import type { Hit } from '../documents';
import { DocumentConflictError, DocumentNotFoundError, StoreError, StoreOverloadedError, StoreUnavailableError } from '../errors';
import type { EsBulker, BulkOp } from './es-bulker';

export interface GuardedWriterOptions {
  /** Requests arriving within this window share one `_mget` and one `_bulk`. */
  windowMs: number;
  /** A round holds at most this many documents; a full round is sent at once. */
  maxIds: number;
  /** Rounds a request may lose to a concurrent writer (409) before it fails. */
  maxConflicts: number;
}

export const DEFAULT_GUARDED_WRITER: GuardedWriterOptions = { windowMs: 5, maxIds: 1000, maxConflicts: 40 };

type Change<T> = (doc: T) => Partial<T> | undefined;

interface Request<T> {
  id: string;
  change: Change<T>;
  conflicts: number;
  resolve: (hit: Hit<T>) => void;
  reject: (err: Error) => void;
}

const backoff = (attempt: number) => new Promise<void>((r) => setTimeout(r, Math.random() * Math.min(50, 2 * (attempt + 1))));

/** Top-level fields to set; `undefined` means "not named". */
const namedFields = <T extends object>(fields: Partial<T>): Partial<T> =>
  Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;

/**
 * Optimistic read-modify-write of single documents, batched: every request that arrives within a
 * short window is read with ONE realtime `_mget`, changed in memory (several requests for one
 * document apply in arrival order) and written back through the bulk writer as `index` operations
 * guarded by `if_seq_no`/`if_primary_term`, with no refresh. A 409 (another writer got there
 * first) puts the request into a later round, where it sees the newer document.
 *
 * This replaces one GET plus one `index?refresh=true` per agent on the checkin and ack paths: the
 * answer still waits until the write is durable (acknowledged by the primary), but not until it
 * is searchable, and Elasticsearch sees one `_mget` and one `_bulk` per window instead of two
 * requests and a refresh per agent. Reads of these documents go by id (realtime), never by search.
 */
export class GuardedWriter<T extends object> {
  private queue: Request<T>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly rounds = new Set<Promise<void>>();
  /** Documents a running round is writing. */
  private readonly busy = new Set<string>();
  private closed = false;

  constructor(
    private readonly client: Client,
    private readonly bulker: EsBulker,
    private readonly index: string,
    private readonly collection: string,
    private readonly opts: GuardedWriterOptions = DEFAULT_GUARDED_WRITER,
    /** Called after a round wrote something (e.g. marks the index as needing a refresh before searches). */
    private readonly onWritten: () => void = () => undefined,
  ) {}

  mutate(id: string, change: Change<T>): Promise<Hit<T>> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    return new Promise<Hit<T>>((resolve, reject) => {
      this.enqueue({ id, change, conflicts: 0, resolve, reject });
    });
  }

  /** Waits for every queued and running round. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.queue.length || this.rounds.size) {
      if (this.queue.length) this.flushNow();
      await Promise.all([...this.rounds]);
    }
  }

  private enqueue(req: Request<T>): void {
    this.queue.push(req);
    if (this.queue.length >= this.opts.maxIds) this.flushNow();
    else this.timer ??= setTimeout(() => this.flushNow(), this.opts.windowMs);
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    // One request per document per round, and none for a document a running round writes: each
    // mutate is its own write (its own `_seq_no`), applied in arrival order. The rest wait.
    const batch: Request<T>[] = [];
    const later: Request<T>[] = [];
    const taken = new Set<string>();
    for (const r of this.queue) {
      if (taken.has(r.id) || this.busy.has(r.id) || batch.length >= this.opts.maxIds) later.push(r);
      else {
        taken.add(r.id);
        batch.push(r);
      }
    }
    this.queue = later;
    if (!batch.length) return;
    for (const id of taken) this.busy.add(id);
    const round = this.round(batch)
      .catch((err: unknown) => {
        const failure = err instanceof Error ? err : new StoreUnavailableError(String(err));
        for (const r of batch) r.reject(failure);
      })
      .finally(() => {
        for (const id of taken) this.busy.delete(id);
        this.rounds.delete(round);
        if (this.queue.length) this.flushNow();
      });
    this.rounds.add(round);
  }

  private async round(batch: Request<T>[]): Promise<void> {
    const byId = new Map<string, Request<T>[]>();
    for (const r of batch) byId.set(r.id, [r]);
    const res = await this.client.mget<T>({ index: this.index, ids: [...byId.keys()], realtime: true });
    const ops: BulkOp[] = [];
    const written: { reqs: Request<T>[]; doc: T }[] = [];
    for (const d of res.docs) {
      const reqs = byId.get(d._id);
      if (!reqs) continue;
      byId.delete(d._id);
      if (!('found' in d) || !d.found) {
        for (const r of reqs) r.reject(new DocumentNotFoundError(this.collection, d._id));
        continue;
      }
      let doc = d._source as T;
      let changed = false;
      const live: Request<T>[] = [];
      for (const r of reqs) {
        try {
          const fields = r.change(doc);
          if (fields) {
            doc = { ...doc, ...namedFields(fields) };
            changed = true;
          }
          live.push(r);
        } catch (err) {
          r.reject(err instanceof Error ? err : new Error(String(err)));
        }
      }
      if (!changed) {
        for (const r of live) r.resolve({ _id: d._id, _seq_no: d._seq_no ?? -1, _source: doc });
        continue;
      }
      ops.push({ action: 'index', index: d._index, id: d._id, doc, ifSeqNo: d._seq_no ?? 0, ifPrimaryTerm: d._primary_term ?? 1 });
      written.push({ reqs: live, doc });
    }
    // Ids the mget did not answer for (should not happen): not found.
    for (const [id, reqs] of byId) for (const r of reqs) r.reject(new DocumentNotFoundError(this.collection, id));
    if (!ops.length) return;
    const results = await this.bulker.submit(ops, { urgent: true });
    this.onWritten();
    const retry: Request<T>[] = [];
    results.forEach((r, i) => {
      const w = written[i];
      const op = ops[i];
      if (!w || !op) return;
      if (r.status === 200 || r.status === 201) {
        for (const req of w.reqs) req.resolve({ _id: op.id, _seq_no: r.seqNo ?? -1, _source: w.doc });
      } else if (r.status === 409) {
        for (const req of w.reqs) {
          req.conflicts += 1;
          if (req.conflicts >= this.opts.maxConflicts) req.reject(new DocumentConflictError(this.collection, op.id));
          else retry.push(req);
        }
      } else if (r.status === 404) {
        for (const req of w.reqs) req.reject(new DocumentNotFoundError(this.collection, op.id));
      } else if (r.status === 429) {
        for (const req of w.reqs) req.reject(new StoreOverloadedError(`${this.collection} write refused: 429`));
      } else if (r.status >= 500) {
        for (const req of w.reqs) req.reject(new StoreUnavailableError(`${this.collection} write failed: ${r.status} ${r.errorType ?? ''}`));
      } else {
        // Refused for what it holds (a mapping conflict): these requests' failure alone, as before.
        for (const req of w.reqs) req.reject(new StoreError(`${this.collection} write refused: ${r.status} ${r.errorType ?? ''}`));
      }
    });
    if (!retry.length) return;
    await backoff(Math.max(...retry.map((r) => r.conflicts)));
    // Ahead of later requests for the same documents; the round's end sends them.
    this.queue.unshift(...retry);
  }
}
