import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import { TlsSafeConnector } from '@fleet/notifications';
import { BullMQOtel } from 'bullmq-otel';
import { createHash } from 'node:crypto';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import {
  JobQueueUnavailableError,
  type EnqueueOptions,
  type FleetJobName,
  type FleetJobs,
  type JobHandlers,
  type JobOutcome,
  type JobQueue,
  type JobSchedules,
  type RetryPolicy,
} from './job-queue';
import type { JobLogger } from './job-logger';

export interface BullMqJobQueueOptions {
  /** `redis://host:port[/db]`, or `rediss://` for TLS. */
  url: string;
  /** TLS options of a `rediss://` URL (CA, client certificate, verification), built by the caller. */
  tls?: TlsOptions;
  /** Queue name (default `fleet-jobs`). */
  queueName?: string;
  /** Redis key prefix of the queue (default `fleet`). */
  prefix?: string;
  retry: RetryPolicy;
  /** Jobs one worker runs at once. */
  concurrency: number;
  /** How long an enqueue may wait for Redis before the inline fallback takes over. */
  enqueueTimeoutMs?: number;
  /** Handlers run inline when Redis cannot take the job (revocations must not wait for Redis). */
  inlineFallback?: Partial<JobHandlers>;
  logger: JobLogger;
}

export interface FinishedJob {
  id: string;
  state: 'completed' | 'failed';
  /** Runs of the job: 1 when it succeeded the first time. */
  attempts: number;
  processedOn?: number;
}

const KEEP_COMPLETED = { age: 3_600, count: 1_000 };
const KEEP_FAILED = { age: 7 * 86_400, count: 10_000 };

/** A BullMQ job id may not contain `:`; long or many ids are hashed. */
export function dedupeJobId(name: FleetJobName, key: string): string {
  return `${name}.${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`;
}

/**
 * Background jobs on BullMQ. Every service enqueues; the dispatchers run a worker. Jobs are stored
 * in Redis (so they survive a crashed worker: a stalled job is taken over by another replica),
 * retried with exponential backoff, and each is run by one worker. Repeatable jobs are job
 * schedulers with a fixed id, so however many dispatchers upsert them, each period yields one job:
 * no leader election.
 */
export class BullMqJobQueue implements JobQueue {
  readonly kind = 'bullmq' as const;
  private readonly queue: Queue;
  private worker: Worker | undefined;
  private producerClient: { status: string } | undefined;
  private workerClient: { status: string } | undefined;
  private readonly jobOptions: JobsOptions;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: BullMqJobQueueOptions) {
    this.jobOptions = {
      attempts: opts.retry.attempts,
      backoff: { type: 'exponential', delay: opts.retry.backoffMs },
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    };
    // Producers fail fast while Redis is away instead of queueing commands without bound.
    this.queue = new Queue(this.queueName, {
      connection: { url: opts.url, ...this.tlsOption(), enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: 'fleet-jobs-producer' },
      prefix: this.prefix,
      defaultJobOptions: this.jobOptions,
      // A producer span per enqueue, and the trace context in the job, continued by the worker.
      telemetry: new BullMQOtel({ tracerName: 'fleet-jobs' }),
    });
    this.queue.on('error', (err: Error) => opts.logger.warn({ reason: err.message }, 'job queue: redis error'));
    this.queue.getBackend().client.then(
      (c) => (this.producerClient = c),
      () => undefined, // reported through the 'error' event above
    );
  }

  /** Ready state of the producer and (when started) worker connections, for the metrics. */
  connectionStates(): Record<string, boolean> {
    const states: Record<string, boolean> = { 'jobs-producer': this.producerClient?.status === 'ready' };
    if (this.worker) states['jobs-worker'] = this.workerClient?.status === 'ready';
    return states;
  }

  /** TLS for a rediss:// URL, and a connector that survives a failed handshake's second error. */
  private tlsOption(): { tls?: TlsOptions; Connector: typeof TlsSafeConnector } {
    return { Connector: TlsSafeConnector, ...(this.opts.tls ? { tls: this.opts.tls } : {}) };
  }

  get queueName(): string {
    return this.opts.queueName ?? 'fleet-jobs';
  }

  get prefix(): string {
    return this.opts.prefix ?? 'fleet';
  }

  async enqueue<N extends FleetJobName>(name: N, data: FleetJobs[N], opts: EnqueueOptions = {}): Promise<void> {
    if (this.closing) throw new JobQueueUnavailableError(name, new Error('job queue closed'));
    const jobId = opts.dedupeId ? dedupeJobId(name, opts.dedupeId) : undefined;
    const adding = this.queue.add(name, data, jobId ? { jobId } : {});
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('redis did not answer in time')), this.opts.enqueueTimeoutMs ?? 2_000);
    });
    try {
      await Promise.race([adding, timeout]);
    } catch (err) {
      // A late success of `adding` only makes the job run twice; every job is idempotent.
      adding.catch(() => undefined);
      const inline = this.opts.inlineFallback?.[name];
      if (!inline) throw new JobQueueUnavailableError(name, err);
      this.opts.logger.warn({ job: name, reason: err instanceof Error ? err.message : String(err) }, 'job queue unavailable; running the job inline');
      await inline(data);
    } finally {
      clearTimeout(timer);
    }
  }

  async startWorker(handlers: JobHandlers, schedules: JobSchedules): Promise<void> {
    if (this.worker || this.closing) return;
    const logger = this.opts.logger;
    const worker = new Worker(
      this.queueName,
      async (job: Job) => {
        const handler = handlers[job.name as FleetJobName] as ((data: unknown) => Promise<JobOutcome>) | undefined;
        if (!handler) throw new Error(`unknown job ${job.name}`);
        return handler(job.data);
      },
      {
        // The worker's blocking connection must retry forever (BullMQ's requirement).
        connection: { url: this.opts.url, ...this.tlsOption(), maxRetriesPerRequest: null, connectionName: 'fleet-jobs-worker' },
        prefix: this.prefix,
        concurrency: this.opts.concurrency,
        autorun: false,
        telemetry: new BullMQOtel({ tracerName: 'fleet-jobs' }),
      },
    );
    worker.on('completed', (job: Job, outcome: JobOutcome) => {
      logger.info({ job: job.name, job_id: job.id, attempts: job.attemptsMade, ...outcome }, 'job done');
    });
    worker.on('failed', (job: Job | undefined, err: Error) => {
      const final = !job || job.attemptsMade >= (job.opts.attempts ?? 1);
      logger[final ? 'error' : 'warn']({ job: job?.name, job_id: job?.id, attempts: job?.attemptsMade, reason: err.message }, final ? 'job failed for good' : 'job failed; will retry');
    });
    worker.on('error', (err: Error) => logger.warn({ reason: err.message }, 'job worker: redis error'));
    this.worker = worker;
    worker.getBackend().client.then(
      (c) => (this.workerClient = c),
      () => undefined, // reported through the 'error' event above
    );
    for (const [name, every] of Object.entries(schedules) as [keyof JobSchedules, number][]) {
      if (every > 0) await this.queue.upsertJobScheduler(name, { every }, { name, data: {}, opts: { ...this.jobOptions } });
      else await this.queue.removeJobScheduler(name);
    }
    void worker.run().catch((err: unknown) => logger.error({ err }, 'job worker stopped'));
  }

  /** Counts of jobs by state (for tests and metrics). */
  counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
  }

  /** Finished jobs of one kind (completed ones are kept an hour, failed ones a week), oldest first. */
  async finished(name: FleetJobName): Promise<FinishedJob[]> {
    const jobs = await this.queue.getJobs(['completed', 'failed'], 0, -1, true);
    return jobs
      .filter((j) => j.name === name)
      .map((j) => ({
        id: String(j.id),
        state: j.failedReason ? ('failed' as const) : ('completed' as const),
        attempts: j.attemptsMade,
        ...(j.processedOn !== undefined ? { processedOn: j.processedOn } : {}),
      }));
  }

  /** The repeatable jobs registered on the queue (one per name, however many dispatchers run). */
  async schedules(): Promise<{ id: string; every?: number }[]> {
    return (await this.queue.getJobSchedulers()).map((s) => ({ id: s.id ?? s.key, ...(s.every !== undefined ? { every: s.every } : {}) }));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // The worker first: it stops taking jobs and waits for the running ones.
      await this.worker?.close().catch(() => undefined);
      await this.queue.close().catch(() => undefined);
    })();
    return this.closing;
  }
}
