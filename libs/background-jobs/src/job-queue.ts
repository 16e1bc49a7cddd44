/** Why a set of API keys is revoked (logged, and part of the job's dedupe id). */
export type RevokeReason = 'unenrolled' | 'replaced' | 'enrollment-failed' | 'unenroll-timeout';

/**
 * Keys on remote Elasticsearch outputs' clusters, by output name: revoked through the output's
 * cluster, whose configuration the job reads from the policy's revisions (never from the payload).
 */
export interface RemoteRevocation {
  /** The agent's policy. */
  policy_id: string;
  outputs: Record<string, string[]>;
  /**
   * Where each key was made, by key id: the policy whose revisions have its cluster, and the
   * cluster's hosts hash (ids and hashes only). Absent in jobs enqueued before it was added, and
   * for keys recorded without them: those are looked up by output name in `policy_id`.
   */
  made_on?: Record<string, { policy_id?: string; hosts_hash?: string }>;
}

export interface RevocationRequest {
  api_key_ids: string[];
  output_api_key_ids?: string[];
  agent_id?: string;
  reason: RevokeReason;
  remote?: RemoteRevocation;
}

/** The background jobs and their payloads. Payloads are small: ids, never documents or secrets. */
export interface FleetJobs {
  /**
   * Invalidate API keys after unenroll or replacement: `api_key_ids` with the store's credentials
   * (access keys; in jobs enqueued before output keys were split out, output keys too),
   * `output_api_key_ids` where `elasticsearch` outputs' keys are made (`outputKeyTarget`).
   */
  'revoke-api-keys': RevocationRequest;
  /** Invalidate the output keys an agent no longer uses, once it acked the revision that replaced them. */
  'retire-output-keys': { agent_id: string };
  /** Delete actions that expired longer ago than the retention (repeatable). */
  'gc-expired-actions': Record<string, never>;
  /** Unenroll agents silent for longer than their policy's `unenroll_timeout` (repeatable). */
  'sweep-inactive-agents': Record<string, never>;
  /** Delete the chunks of uploads abandoned past their expiry and mark them EXPIRED (repeatable). */
  'expire-abandoned-uploads': Record<string, never>;
  /** Count agents by status and keep the sample in the shared status history (repeatable). */
  'sample-agent-status': Record<string, never>;
}

export type FleetJobName = keyof FleetJobs;

/** What a handler reports (counts for the log line of the finished job). */
export type JobOutcome = Record<string, number>;

export type JobHandlers = { [N in FleetJobName]: (data: FleetJobs[N]) => Promise<JobOutcome> };

/** Repeatable jobs and their period; a period of 0 turns the job off. */
export type JobSchedules = Partial<Record<'gc-expired-actions' | 'sweep-inactive-agents' | 'expire-abandoned-uploads' | 'sample-agent-status', number>>;

export interface EnqueueOptions {
  /** While a job with this id is waiting, running or kept, another one with it is not added. */
  dedupeId?: string;
}

/**
 * Background work that must happen exactly once across replicas and survive crashes. Producers
 * (every service) enqueue; workers (the dispatchers) run each job once, with retries and backoff.
 */
export interface JobQueue {
  readonly kind: 'bullmq' | 'inprocess';
  /**
   * Records a job durably. When the queue is unreachable and an inline fallback handler was
   * configured for the job, the job runs inline instead (so revocations still happen with Redis
   * down); otherwise it rejects with `JobQueueUnavailableError`.
   */
  enqueue<N extends FleetJobName>(name: N, data: FleetJobs[N], opts?: EnqueueOptions): Promise<void>;
  /** Starts running jobs (and the repeatable ones) in this process. */
  startWorker(handlers: JobHandlers, schedules: JobSchedules): Promise<void>;
  /** Idempotent: stops taking jobs, waits for running ones, closes connections. */
  close(): Promise<void>;
  /** Whether each Redis connection of the queue is up, by connection name (none in process). */
  connectionStates(): Record<string, boolean>;
}

export class JobQueueUnavailableError extends Error {
  constructor(
    readonly job: FleetJobName,
    cause: unknown,
  ) {
    super(`job queue unavailable; ${job} not enqueued: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'JobQueueUnavailableError';
  }
}

export interface RetryPolicy {
  /** Tries per job, the first included. */
  attempts: number;
  /** First retry delay; doubles on each retry. */
  backoffMs: number;
}

/** Delay before retry `attempt` (1-based count of failures so far). */
export const retryDelayMs = (policy: RetryPolicy, attempt: number): number => policy.backoffMs * 2 ** Math.max(0, attempt - 1);

/**
 * Enqueues the revocation of API keys; the same set of keys is enqueued once while its job is
 * waiting, running or kept (a retried request or a duplicate ack adds nothing).
 */
export function enqueueRevocation(jobs: Pick<JobQueue, 'enqueue'>, request: RevocationRequest): Promise<void> {
  const ids = [...new Set(request.api_key_ids.filter(Boolean))].sort();
  const outputIds = [...new Set((request.output_api_key_ids ?? []).filter(Boolean))].sort();
  const remoteIds = Object.values(request.remote?.outputs ?? {})
    .flat()
    .sort();
  if (!ids.length && !outputIds.length && !remoteIds.length) return Promise.resolve();
  const { remote, output_api_key_ids: _outputs, ...rest } = request;
  return jobs.enqueue(
    'revoke-api-keys',
    { ...rest, api_key_ids: ids, ...(outputIds.length ? { output_api_key_ids: outputIds } : {}), ...(remoteIds.length && remote ? { remote } : {}) },
    { dedupeId: [...ids, ...outputIds, ...remoteIds].join(',') },
  );
}
