import type convict from 'convict';
import type { Express } from 'express';
import type { JobQueue } from '@fleet/background-jobs';
import type { NotificationBus } from '@fleet/notifications';
import type { FleetStore } from '@fleet/store';
import { loadConfig, type BusConfig, type HttpConfig, type JobsConfig, type LogConfig, type MetricsConfig, type ServerIdentityConfig, type StoreConfig } from './config';
import { HealthMonitor, probeRoutes } from './health-monitor';
import { ServiceMetrics, startMetricsServer } from './metrics';
import { errorHandler, notFound } from './http-middleware';
import { startHttpServer } from './http-server';
import { Lifecycle } from './lifecycle';
import { createLogger, type Logger } from './logger';
import { createServiceApp, loadConfigOrExit, openBus, openJobQueue, openStore, replicaName, runMain } from './service-app';

export interface BaseServiceConfig {
  log: LogConfig;
  http: HttpConfig;
  store: StoreConfig;
  server: ServerIdentityConfig;
  bus: BusConfig;
  jobs: JobsConfig;
  metrics: MetricsConfig;
}

export interface ServiceContext<T> {
  config: Readonly<T>;
  logger: Logger;
  store: FleetStore;
  bus: NotificationBus;
  /** Background jobs: every service enqueues; the dispatcher also runs the worker. */
  jobs: JobQueue;
  /** Store reachability and shutdown state (behind `/readyz`; the gateway's `/api/status` too). */
  health: HealthMonitor;
  /** Prometheus metrics of this process (served on their own port). */
  metrics: ServiceMetrics;
  lifecycle: Lifecycle;
  /** Mount the service's routers here; the 404 and error handlers are added after. */
  app: Express;
}

export interface ServiceHooks {
  /** Runs first on shutdown, before the HTTP server closes (e.g. answer open long polls). */
  beforeClose?: () => void;
}

/**
 * The process entry point of one service: loads and validates its config, opens the store, lets
 * the service mount its routes, listens, and shuts down in order on SIGTERM/SIGINT.
 */
export function runService<T extends BaseServiceConfig>(
  name: string,
  schema: convict.Schema<T>,
  build: (ctx: ServiceContext<T>) => Promise<ServiceHooks | void>,
): void {
  const config = loadConfigOrExit(name, () => loadConfig(schema), createLogger({ name, level: 'info' }));
  const logger = createLogger({ name, level: config.log.level });
  runMain(
    name,
    async () => {
      const lifecycle = new Lifecycle(logger);
      const store = await openStore(config.store, logger);
      lifecycle.onClose('store', () => store.close());
      const bus = await openBus(config.bus, logger);
      lifecycle.onClose('notification bus', () => bus.close());
      const jobs = openJobQueue(config.jobs, { redisUrl: config.bus.redisUrl, store, logger });
      lifecycle.onClose('job queue', () => jobs.close());
      const health = new HealthMonitor(store, logger);
      await health.start();
      const metrics = new ServiceMetrics(name);
      if (config.metrics.enabled) {
        const metricsServer = await startMetricsServer(metrics, config.metrics, logger);
        lifecycle.onClose('metrics server', () => metricsServer.close());
      }
      const app = createServiceApp({ logger, replicaId: replicaName(config.server.replicaId), http: config.http, metrics });
      app.use(probeRoutes(health));
      const hooks = await build({ config, logger, store, bus, jobs, health, metrics, lifecycle, app });
      app.use(notFound());
      app.use(errorHandler('agent'));
      const server = await startHttpServer(app, config.http, logger);
      lifecycle.onClose('http server', () => server.close());
      const beforeClose = hooks?.beforeClose;
      if (beforeClose) lifecycle.onClose('before close', beforeClose);
      // Runs first on shutdown: the readiness probe fails before anything closes.
      lifecycle.onClose('mark not ready', () => health.markStopping());
      lifecycle.installSignalHandlers();
      return lifecycle;
    },
    logger,
  );
}

