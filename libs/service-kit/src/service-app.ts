import express, { type Express } from 'express';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { BullMqJobQueue, InProcessJobQueue, storeOnlyJobHandlers, type JobQueue } from '@fleet/background-jobs';
import { InProcessBus, RedisNotificationBus, type NotificationBus } from '@fleet/notifications';
import { ElasticsearchFleetStore, loadActionSecretsKey, SqliteFleetStore, type FleetStore } from '@fleet/store';
import { shutdownTracing } from '@fleet/telemetry';
import type { BaseServiceConfig, BusConfig, HttpConfig, JobsConfig, StoreConfig } from './config';
import { HealthMonitor } from './health-monitor';
import type { Lifecycle } from './lifecycle';
import { ServiceMetrics, startMetricsServer } from './metrics';
import { ConfigError, readSecretFile } from './config';
import { requestContext, securityHeaders } from './http-middleware';
import type { Logger } from './logger';
import { configureTrustProxy } from './trust-proxy';
import { attachLeanRouter, LeanRouter } from './lean-router';

/** This replica's name: configured, else host and pid. */
export const replicaName = (configured: string): string => configured || `${hostname()}-${process.pid}`;

/**
 * An Express app with the common front: security headers, request id and logging, proxy trust;
 * and a lean router (`leanRouterOf(app)`) with the same front for the hot agent routes.
 */
export function createServiceApp(opts: { logger: Logger; replicaId: string; http: HttpConfig; metrics?: ServiceMetrics }): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  configureTrustProxy(app, opts.http.trustProxy);
  app.use(securityHeaders());
  app.use(requestContext(opts.logger, opts.replicaId, opts.metrics));
  // The hot agent routes a service mounts on it are served on node:http before this app.
  const trust = app.get('trust proxy fn') as (addr: string, i: number) => boolean;
  attachLeanRouter(app, new LeanRouter(opts.logger, opts.replicaId, opts.metrics, trust));
  return app;
}

/** Opens the configured store backend; for Elasticsearch, reports what the cluster offers. */
export async function openStore(config: StoreConfig, logger?: Logger): Promise<FleetStore> {
  const actionSecretsKey = loadActionSecretsKey(config.actionSecretsKeyFile || join(dirname(config.sqlite.path), 'action-secrets.key'));
  switch (config.backend) {
    case 'sqlite':
      return new SqliteFleetStore({
        path: config.sqlite.path,
        synchronous: config.sqlite.synchronous,
        minFreeBytes: config.sqlite.minFreeBytes,
        actionSecretsKey,
      });
    case 'elasticsearch': {
      const es = config.elasticsearch;
      const serviceToken = es.serviceToken || (es.serviceTokenFile ? readSecretFile(es.serviceTokenFile, 'Elasticsearch service token') : '');
      const password = es.password || (es.passwordFile ? readSecretFile(es.passwordFile, 'Elasticsearch password') : '');
      const store = await ElasticsearchFleetStore.open({
        hosts: es.hosts,
        ...(serviceToken ? { serviceToken } : es.username ? { username: es.username, password } : {}),
        requestTimeoutMs: es.requestTimeoutMs,
        credentials: es.credentials,
        bulker: { flushIntervalMs: es.bulkFlushIntervalMs, maxPendingOps: es.bulkMaxPendingOps },
        actionSecretsKey,
      }, { requireReady: false });
      if (store.notReadyReason) logger?.warn({ reason: store.notReadyReason }, 'elasticsearch not reachable yet; starting degraded and retrying');
      else logger?.info({ elasticsearch: store.capabilities }, 'elasticsearch store ready');
      return store;
    }
    default:
      throw new ConfigError(`unknown store backend ${String(config.backend)}`);
  }
}

/**
 * Runs a service's start function as the process entry point: a start failure (bad config, port
 * taken) is logged with its reason and exits 1; an unhandled rejection or exception is logged and
 * exits 1 rather than leaving a half-working server.
 */
export function runMain(name: string, start: () => Promise<{ close(): Promise<void> }>, logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection');
    process.exit(1);
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  start().then(
    () => logger.info(`${name} started`),
    (err: unknown) => {
      // The reason in the message itself: an operator reads it first (a damaged or foreign store says what to do).
      logger.fatal({ err: err instanceof ConfigError ? err.message : err }, `${name} failed to start: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}

/** Loads config for a process entry point; an invalid config is logged with its reason and exits 1. */
export function loadConfigOrExit<T>(name: string, load: () => Readonly<T>, logger: Logger): Readonly<T> {
  try {
    return load();
  } catch (err) {
    logger.fatal({ reason: err instanceof Error ? err.message : String(err) }, `${name}: invalid configuration`);
    process.exit(1);
  }
}

/**
 * Opens the configured notification bus. A Redis bus that cannot connect at start is an error
 * (the process exits and is restarted); once running, Redis outages are absorbed and retried.
 */
export async function openBus(config: BusConfig, logger: Logger): Promise<NotificationBus> {
  if (config.backend === 'inprocess') return new InProcessBus({ policyDebounceMs: config.policyDebounceMs });
  let warned = 0;
  const bus = await RedisNotificationBus.connect({
    url: config.redisUrl,
    channel: config.channel,
    policyDebounceMs: config.policyDebounceMs,
    onError: (err, context) => {
      // One line per second at most while Redis is down.
      if (Date.now() - warned > 1_000) {
        warned = Date.now();
        logger.warn({ context, reason: err.message }, 'notification bus: redis unavailable; the change feeds cover the gap');
      }
    },
    onResubscribed: () => logger.info('notification bus: subscribed to redis'),
  });
  logger.info({ channel: config.channel }, 'notification bus: redis');
  return bus;
}

/**
 * Opens the background job queue. With BullMQ, a producer whose Redis is away runs revocations
 * inline against the store instead of failing the request; only dispatchers start a worker.
 */
export function openJobQueue(config: JobsConfig, deps: { redisUrl: string; store: FleetStore; logger: Logger }): JobQueue {
  const retry = { attempts: Math.max(1, config.attempts), backoffMs: config.backoffMs };
  const logger = deps.logger.child({ component: 'jobs' });
  if (config.backend === 'inprocess') return new InProcessJobQueue({ retry, logger });
  logger.info({ queue: config.queue }, 'background jobs: bullmq');
  return new BullMqJobQueue({
    url: deps.redisUrl,
    queueName: config.queue,
    retry,
    concurrency: config.concurrency,
    inlineFallback: storeOnlyJobHandlers(deps.store),
    logger,
  });
}

/** What every process runs on: the store, the notification bus, the job queue, health and metrics. */
export interface ProcessResources {
  store: FleetStore;
  bus: NotificationBus;
  jobs: JobQueue;
  /** Store reachability and shutdown state (behind `/readyz`, and the gateway's `/api/status`). */
  health: HealthMonitor;
  metrics: ServiceMetrics;
  /** The Prometheus endpoint, when metrics are enabled. */
  metricsUrl?: string;
}

/**
 * Opens a process's resources in dependency order and registers each one's close with the
 * lifecycle, which closes them in reverse.
 */
export async function openProcessResources(
  name: string,
  config: BaseServiceConfig,
  logger: Logger,
  lifecycle: Lifecycle,
): Promise<ProcessResources> {
  // Registered first, so it runs last on shutdown: the spans of the drain are exported too.
  lifecycle.onClose('tracing', () => shutdownTracing());
  const store = await openStore(config.store, logger);
  lifecycle.onClose('store', () => store.close());
  const bus = await openBus(config.bus, logger);
  lifecycle.onClose('notification bus', () => bus.close());
  const jobs = openJobQueue(config.jobs, { redisUrl: config.bus.redisUrl, store, logger });
  lifecycle.onClose('job queue', () => jobs.close());
  const health = new HealthMonitor(store, logger);
  await health.start();
  const metrics = new ServiceMetrics(name);
  registerResourceMetrics(metrics, store, bus, jobs);
  if (!config.metrics.enabled) return { store, bus, jobs, health, metrics };
  const metricsServer = await startMetricsServer(metrics, config.metrics, logger);
  lifecycle.onClose('metrics server', () => metricsServer.close());
  return { store, bus, jobs, health, metrics, metricsUrl: metricsServer.url };
}

/** Store write path and Redis connections, read at scrape time (nothing is kept per request). */
function registerResourceMetrics(metrics: ServiceMetrics, store: FleetStore, bus: NotificationBus, jobs: JobQueue): void {
  metrics.gauge('fleet_store_pending_writes', 'Writes accepted and not yet confirmed by the store (the bulk queue depth).', () => store.pendingWrites());
  const bulkSeconds = metrics.histogram(
    'fleet_store_bulk_duration_seconds',
    'Duration of the grouped write requests (_bulk) sent to the store, by outcome.',
    ['outcome'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  const bulkOps = metrics.counter('fleet_store_bulk_operations_total', 'Operations sent in grouped write requests, by outcome of the request.', ['outcome']);
  store.onBulkWrite(({ seconds, operations, ok }) => {
    const outcome = ok ? 'ok' : 'failed';
    bulkSeconds.observe({ outcome }, seconds);
    bulkOps.inc({ outcome }, operations);
  });
  metrics.labeledGauge('fleet_redis_connected', 'Whether each Redis connection (bus publisher/subscriber, job producer/worker) is ready: 1 up, 0 down.', ['connection'], () =>
    Object.entries({ ...bus.connectionStates(), ...jobs.connectionStates() }).map(([connection, up]) => [{ connection }, up ? 1 : 0]),
  );
}
