import express, { type Express } from 'express';
import { hostname } from 'node:os';
import type { HttpConfig } from './config';
import type { ServiceMetrics } from './metrics';
import { ConfigError } from './config';
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

