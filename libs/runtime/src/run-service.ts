import type convict from 'convict';
import type { Express } from 'express';
import {
  createLogger,
  createServiceApp,
  errorHandler,
  Lifecycle,
  loadConfig,
  loadConfigOrExit,
  notFound,
  probeRoutes,
  replicaName,
  resolveListenerTls,
  runMain,
  startHttpServer,
  type BaseServiceConfig,
  type Logger,
} from '@fleet/service-kit';
import { openProcessResources, type ProcessResources } from './process-resources';

export interface ServiceContext<T> extends ProcessResources {
  config: Readonly<T>;
  logger: Logger;
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
      // Before anything connects: a missing or wrong certificate stops the start at once.
      const tls = resolveListenerTls(config.http.tls, logger);
      const resources = await openProcessResources(name, config, logger, lifecycle);
      if (tls) resources.health.addDetail('tls', () => tls.statusDetail());
      const { health, metrics } = resources;
      const app = createServiceApp({ logger, replicaId: replicaName(config.server.replicaId), http: config.http, metrics });
      app.use(probeRoutes(health));
      const hooks = await build({ ...resources, config, logger, lifecycle, app });
      app.use(notFound());
      app.use(errorHandler('agent'));
      const server = await startHttpServer(app, config.http, logger, tls);
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

