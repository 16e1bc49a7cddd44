import { BullMqJobQueue, InProcessJobQueue, storeOnlyJobHandlers, type JobQueue } from '@fleet/background-jobs';
import {
  InProcessBus,
  RedisNotificationBus,
  type NotificationBus,
} from '@fleet/notifications';
import {
  ConfigError,
  elasticsearchClientTls,
  HealthMonitor,
  outputKeyClusterTls,
  readSecretFile,
  redisClientTls,
  ServiceMetrics,
  startMetricsServer,
  type BaseServiceConfig,
  type BusConfig,
  type JobsConfig,
  type Lifecycle,
  type Logger,
  type StoreConfig,
} from '@fleet/service-kit';
import { ElasticsearchFleetStore, loadKeyFile, OutputKeyCluster, readKeyFile, SqliteFleetStore, type FleetStore } from '@fleet/store';
import { shutdownTracing } from '@fleet/telemetry';
import { dirname, join } from 'node:path';
import type { ConnectionOptions as TlsOptions } from 'node:tls';

/**
 * Opens the configured store backend; for Elasticsearch, reports what the cluster offers. TLS
 * files are read (and a CA named by fingerprint fetched) before the first request.
 */
export async function openStore(config: StoreConfig, logger: Logger): Promise<FleetStore> {
  const actionSecretsKey = loadKeyFile(config.actionSecretsKeyFile || join(dirname(config.sqlite.path), 'action-secrets.key'));
  const outputKeyCluster = openOutputKeyCluster(config, logger);
  switch (config.backend) {
    case 'sqlite': {
      const { secretsKeyFile, secretsPreviousKeyFile } = config.sqlite;
      const store = new SqliteFleetStore({
        path: config.sqlite.path,
        synchronous: config.sqlite.synchronous,
        minFreeBytes: config.sqlite.minFreeBytes,
        actionSecretsKey,
        ...(outputKeyCluster ? { outputKeyCluster } : {}),
        // Unset: the store's default, secrets.key beside the file.
        ...(secretsKeyFile || secretsPreviousKeyFile
          ? {
              secretKeys: {
                current: loadKeyFile(secretsKeyFile || join(dirname(config.sqlite.path), 'secrets.key')),
                ...(secretsPreviousKeyFile ? { previous: readKeyFile(secretsPreviousKeyFile) } : {}),
              },
            }
          : {}),
      });
      const rotation = store.secretKeyRotation;
      if (secretsPreviousKeyFile || rotation.unreadable) {
        logger[rotation.unreadable ? 'warn' : 'info'](
          { reencrypted: rotation.reencrypted, unreadable: rotation.unreadable },
          rotation.unreadable
            ? 'policy secrets sealed with a key that is not configured cannot be read (see docs/secrets.md)'
            : 'policy secrets re-encrypted with the current key; the previous key file is no longer needed',
        );
      }
      return store;
    }
    case 'elasticsearch': {
      const es = config.elasticsearch;
      const serviceToken = es.serviceToken || (es.serviceTokenFile ? readSecretFile(es.serviceTokenFile, 'Elasticsearch service token') : '');
      const password = es.password || (es.passwordFile ? readSecretFile(es.passwordFile, 'Elasticsearch password') : '');
      const tls = await elasticsearchClientTls(es, logger);
      const store = await ElasticsearchFleetStore.open({
        hosts: es.hosts,
        ...(serviceToken ? { serviceToken } : es.username ? { username: es.username, password } : {}),
        requestTimeoutMs: es.requestTimeoutMs,
        ...(tls ? { tls } : {}),
        credentials: es.credentials,
        bulker: { flushIntervalMs: es.bulkFlushIntervalMs, maxPendingOps: es.bulkMaxPendingOps },
        actionSecretsKey,
        ...(outputKeyCluster ? { outputKeyCluster } : {}),
      }, { requireReady: false });
      if (store.notReadyReason) logger.warn({ reason: store.notReadyReason }, 'elasticsearch not reachable yet; starting degraded and retrying');
      else logger.info({ elasticsearch: store.capabilities }, 'elasticsearch store ready');
      return store;
    }
    default:
      throw new ConfigError(`unknown store backend ${String(config.backend)}`);
  }
}

/**
 * The output key cluster, when configured (both its hosts and its service token file): where
 * `elasticsearch` outputs' per-agent keys are made with built-in credentials. No request is made
 * before the first key.
 */
function openOutputKeyCluster(config: StoreConfig, logger: Logger): OutputKeyCluster | undefined {
  const { hosts, serviceTokenFile } = config.outputKeys;
  if (!hosts.length && !serviceTokenFile) return undefined;
  if (!hosts.length) throw new ConfigError('store.outputKeys.serviceTokenFile (FLEET_OUTPUT_KEYS_SERVICE_TOKEN_FILE) is set without store.outputKeys.hosts (FLEET_OUTPUT_KEYS_HOSTS)');
  if (!serviceTokenFile) throw new ConfigError('store.outputKeys.hosts (FLEET_OUTPUT_KEYS_HOSTS) is set without store.outputKeys.serviceTokenFile (FLEET_OUTPUT_KEYS_SERVICE_TOKEN_FILE)');
  const serviceToken = readSecretFile(serviceTokenFile, 'output key cluster service token');
  const tls = outputKeyClusterTls(config.outputKeys, logger);
  logger.info({ hosts }, 'output key cluster: per-agent output API keys are made there when the credentials are built-in');
  return new OutputKeyCluster({ hosts, serviceToken, ...(tls ? { tls } : {}) });
}

/**
 * Opens the configured notification bus. A Redis bus that cannot connect at start is an error
 * (the process exits and is restarted); once running, Redis outages are absorbed and retried.
 * `redisTls` is what `redisClientTls` built from the same config (once per process, shared with
 * the job queue); undefined for a redis:// URL.
 */
export async function openBus(config: BusConfig, logger: Logger, redisTls: TlsOptions | undefined): Promise<NotificationBus> {
  if (config.backend === 'inprocess') return new InProcessBus({ policyDebounceMs: config.policyDebounceMs });
  let warned = 0;
  const bus = await RedisNotificationBus.connect({
    url: config.redisUrl,
    ...(redisTls ? { tls: redisTls } : {}),
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
export function openJobQueue(
  config: JobsConfig,
  deps: { redisUrl: string; redisTls?: TlsOptions | undefined; store: FleetStore; logger: Logger },
): JobQueue {
  const retry = { attempts: Math.max(1, config.attempts), backoffMs: config.backoffMs };
  const logger = deps.logger.child({ component: 'jobs' });
  if (config.backend === 'inprocess') return new InProcessJobQueue({ retry, logger });
  logger.info({ queue: config.queue }, 'background jobs: bullmq');
  return new BullMqJobQueue({
    url: deps.redisUrl,
    ...(deps.redisTls ? { tls: deps.redisTls } : {}),
    queueName: config.queue,
    retry,
    concurrency: config.concurrency,
    inlineFallback: storeOnlyJobHandlers(deps.store, { logger, remoteRevocationSearchRevisions: config.remoteRevocationSearchRevisions }),
    logger,
  });
}

/** What every process runs on: the store, the notification bus, the job queue, health and metrics. */
export interface ProcessResources {
  store: FleetStore;
  /** With its shared state: `bus.board` (cluster figures) and `bus.ledger` (deliveries per rollout). */
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
  // Built once, before anything opens: a bad TLS file fails the start at once.
  const redisTls = usesRedis(config) ? redisClientTls(config.bus, logger) : undefined;
  const store = await openStore(config.store, logger);
  lifecycle.onClose('store', () => store.close());
  const bus = await openBus(config.bus, logger, redisTls);
  lifecycle.onClose('notification bus', () => bus.close());
  const jobs = openJobQueue(config.jobs, { redisUrl: config.bus.redisUrl, redisTls, store, logger });
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

const usesRedis = (config: BaseServiceConfig): boolean => config.bus.backend === 'redis' || config.jobs.backend === 'bullmq';

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
