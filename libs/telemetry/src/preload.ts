import convict from 'convict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { tracingSchema, type TracingConfig } from './tracing-config';

/**
 * Starts the OpenTelemetry SDK before the service's own modules load (`node --require
 * <service>/dist/instrumentation.js`), so the http, express and ioredis modules are patched when
 * the service requires them. The Elasticsearch client makes its own spans through the API, and
 * BullMQ through bullmq-otel. Tracing is off unless FLEET_TRACING_ENABLED is true (then not even
 * the SDK is loaded), and nothing here may stop the service: a bad setting or a dead collector
 * is logged, and tracing stays off or drops spans.
 */
export interface TracingTarget {
  serviceName: string;
  /** The service's package.json, for service.version. */
  packageJsonPath?: string;
  env?: NodeJS.ProcessEnv;
}

function readVersion(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** Starts tracing when configured; returns whether it did. Never throws. */
export function startTracing(target: TracingTarget): boolean {
  const env = target.env ?? process.env;
  const logger = pino({ name: target.serviceName, level: env.FLEET_LOG_LEVEL ?? 'info', base: { service: target.serviceName, pid: process.pid } });
  let config: TracingConfig;
  try {
    const loaded = convict<{ tracing: TracingConfig }>({ tracing: tracingSchema }, { env, args: [] });
    loaded.validate({ allowed: 'strict' });
    config = loaded.get('tracing');
  } catch (err) {
    logger.error({ err }, 'tracing settings are invalid; tracing is off');
    return false;
  }
  if (!config.enabled) return false;
  try {
    // Loaded only when tracing is on: the SDK and its exporters weigh on every start otherwise.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { startSdk } = require('./sdk-start') as typeof import('./sdk-start');
    startSdk(
      config,
      { serviceName: target.serviceName, serviceVersion: readVersion(target.packageJsonPath), instanceId: env.FLEET_REPLICA_ID || `${hostname()}-${process.pid}` },
      logger,
    );
    return true;
  } catch (err) {
    logger.error({ err }, 'tracing could not start; the service runs without it');
    return false;
  }
}
