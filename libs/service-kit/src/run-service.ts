import type convict from 'convict';
import type { Express } from 'express';
import type { NotificationBus } from '@fleet/notifications';
import type { FleetStore } from '@fleet/store';
import { loadConfig, type BusConfig, type HttpConfig, type LogConfig, type ServerIdentityConfig, type StoreConfig } from './config';
import { errorHandler, notFound } from './http-middleware';
import { startHttpServer } from './http-server';
import { Lifecycle } from './lifecycle';
import { createLogger, type Logger } from './logger';
import { createServiceApp, loadConfigOrExit, openBus, openStore, replicaName, runMain } from './service-app';

export interface BaseServiceConfig {
  log: LogConfig;
  http: HttpConfig;
  store: StoreConfig;
  server: ServerIdentityConfig;
  bus: BusConfig;
}

export interface ServiceContext<T> {
  config: Readonly<T>;
  logger: Logger;
  store: FleetStore;
  bus: NotificationBus;
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
      const app = createServiceApp({ logger, replicaId: replicaName(config.server.replicaId), http: config.http });
      const hooks = await build({ config, logger, store, bus, lifecycle, app });
      app.use(notFound());
      app.use(errorHandler('agent'));
      const server = await startHttpServer(app, config.http, logger);
      lifecycle.onClose('http server', () => server.close());
      const beforeClose = hooks?.beforeClose;
      if (beforeClose) lifecycle.onClose('before close', beforeClose);
      lifecycle.installSignalHandlers();
      return lifecycle;
    },
    logger,
  );
}
