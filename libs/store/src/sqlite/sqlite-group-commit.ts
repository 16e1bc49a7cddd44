import type Database from 'better-sqlite3';
import { StoreUnavailableError } from '../errors';

interface Queued {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/**
 * Commits the writes that concurrent requests queue in one turn of the event loop as one
 * transaction (group commit): a commit per batch instead of one per write. Each write runs in a
 * savepoint of its own, so one that throws (a conflict) is rolled back and fails alone; none
 * resolves before the batch's commit, so a resolved write is as durable as one committed alone.
 */
export class SqliteGroupCommit {
  private queue: Queued[] = [];
  private scheduled = false;
  private readonly inSavepoint: Database.Transaction<(write: () => unknown) => unknown>;
  private readonly inTransaction: Database.Transaction<(batch: Queued[]) => Array<{ value: unknown } | { err: unknown }>>;

  constructor(
    db: Database.Database,
    private readonly translate: (err: unknown) => Error,
    private readonly isClosed: () => boolean,
  ) {
    // A transaction function called inside another transaction runs as a savepoint.
    this.inSavepoint = db.transaction((write: () => unknown) => write());
    this.inTransaction = db.transaction((batch: Queued[]) =>
      batch.map((q) => {
        try {
          return { value: this.inSavepoint(q.write) };
        } catch (err) {
          return { err };
        }
      }),
    );
  }

  run<T>(write: () => T): Promise<T> {
    if (this.isClosed()) return Promise.reject(new StoreUnavailableError('store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits everything queued now (also called before the store closes). */
  flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (!batch.length) return;
    if (this.isClosed()) {
      for (const q of batch) q.reject(new StoreUnavailableError('store is closed'));
      return;
    }
    let outcomes: Array<{ value: unknown } | { err: unknown }>;
    try {
      outcomes = this.inTransaction.immediate(batch);
    } catch (err) {
      const failure = this.translate(err);
      for (const q of batch) q.reject(failure);
      return;
    }
    batch.forEach((q, i) => {
      const outcome = outcomes[i];
      if (outcome && 'value' in outcome) q.resolve(outcome.value);
      else q.reject(this.translate(outcome?.err));
    });
  }
}
