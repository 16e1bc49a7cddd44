import type { JobLogger } from './job-logger';
import {
  JobQueueUnavailableError,
  retryDelayMs,
  type EnqueueOptions,
  type FleetJobName,
  type FleetJobs,
  type JobHandlers,
  type JobOutcome,
  type JobQueue,
  type JobSchedules,
  type RetryPolicy,
} from './job-queue';

interface PendingJob {
  name: FleetJobName;
  data: unknown;
  dedupeId?: string;
}

/**
 * The all-in-one queue: jobs run in this process, with the same retries and backoff as BullMQ,
 * and repeatable jobs on timers. Jobs waiting for a retry when the process stops are not kept;
 * the embedded store's revocations are local transactions, so that window is small, and the
 * repeatable jobs catch up on the next start.
 */
export class InProcessJobQueue implements JobQueue {
  readonly kind = 'inprocess' as const;

  connectionStates(): Record<string, boolean> {
    return {};
  }
  private handlers: JobHandlers | undefined;
  private readonly backlog: PendingJob[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly inFlight = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly wakeSleepers = new Set<() => void>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly opts: { retry: RetryPolicy; logger: JobLogger; maxBacklog?: number },
  ) {}

  enqueue<N extends FleetJobName>(name: N, data: FleetJobs[N], opts: EnqueueOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new JobQueueUnavailableError(name, new Error('job queue closed')));
    if (opts.dedupeId && this.inFlight.has(`${name}/${opts.dedupeId}`)) return Promise.resolve();
    const job: PendingJob = { name, data, ...(opts.dedupeId ? { dedupeId: opts.dedupeId } : {}) };
    if (!this.handlers) {
      if (this.backlog.length >= (this.opts.maxBacklog ?? 10_000)) {
        return Promise.reject(new JobQueueUnavailableError(name, new Error('no worker yet and the backlog is full')));
      }
      this.backlog.push(job);
      return Promise.resolve();
    }
    this.launch(job);
    return Promise.resolve();
  }

  startWorker(handlers: JobHandlers, schedules: JobSchedules): Promise<void> {
    if (this.handlers || this.closed) return Promise.resolve();
    this.handlers = handlers;
    for (const job of this.backlog.splice(0)) this.launch(job);
    for (const [name, every] of Object.entries(schedules) as [keyof JobSchedules, number][]) {
      if (!(every > 0)) continue;
      const timer = setInterval(() => this.launch({ name, data: {}, dedupeId: 'schedule' }), every);
      timer.unref();
      this.timers.add(timer);
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      for (const t of this.timers) clearInterval(t);
      this.timers.clear();
      for (const wake of this.wakeSleepers) wake();
      await Promise.allSettled([...this.running]);
    })();
    return this.closing;
  }

  private launch(job: PendingJob): void {
    const key = job.dedupeId ? `${job.name}/${job.dedupeId}` : undefined;
    if (key) {
      if (this.inFlight.has(key)) return;
      this.inFlight.add(key);
    }
    const run = this.attempt(job).finally(() => {
      this.running.delete(run);
      if (key) this.inFlight.delete(key);
    });
    this.running.add(run);
  }

  private async attempt(job: PendingJob): Promise<void> {
    const handler = this.handlers?.[job.name] as ((data: unknown) => Promise<JobOutcome>) | undefined;
    if (!handler) return;
    const { attempts } = this.opts.retry;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const outcome = await handler(job.data);
        this.opts.logger.info({ job: job.name, attempts: attempt, ...outcome }, 'job done');
        return;
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        if (attempt === attempts || this.closed) {
          this.opts.logger.error({ job: job.name, attempts: attempt, reason }, 'job failed for good');
          return;
        }
        this.opts.logger.warn({ job: job.name, attempts: attempt, reason }, 'job failed; will retry');
        if (!(await this.sleep(retryDelayMs(this.opts.retry, attempt)))) return;
      }
    }
  }

  /** Resolves true after `ms`, or false at once if the queue closes meanwhile. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.wakeSleepers.delete(wake);
        resolve(!this.closed);
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.wakeSleepers.add(wake);
    });
  }
}
