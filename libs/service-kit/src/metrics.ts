import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { constantTimeEquals } from '@fleet/store';
import { ConfigError, readSecretFile, type MetricsConfig } from './config';
import { assertStrongToken } from './secret-strength';
import { mapError } from './errors';
import type { Logger } from './logger';

/**
 * One process's Prometheus metrics: Node's defaults (event-loop lag, heap, GC, handles), requests by
 * route and status, and whatever gauges the services register. Every series carries `service`.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'route' | 'status_code'>;
  readonly httpRefused: Counter<'route' | 'reason'>;

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    this.httpRequests = new Counter({
      name: 'fleet_http_requests_total',
      help: 'HTTP requests answered, by route pattern and status code (429 = rate or capacity limited).',
      labelNames: ['route', 'status_code'],
      registers: [this.registry],
    });
    this.httpRefused = new Counter({
      name: 'fleet_http_refused_total',
      help: 'Requests refused with 429 or 503 before any work, by route pattern and reason (the limit or condition that refused them).',
      labelNames: ['route', 'reason'],
      registers: [this.registry],
    });
  }

  /** A counter; asking for a name again returns the same one. */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  /** A histogram; asking for a name again returns the same one. */
  histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Histogram<L>;
    return new Histogram<L>({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  /** A gauge with labels, read at scrape time as [labels, value] pairs; registering a name twice is a no-op. */
  labeledGauge<L extends string>(name: string, help: string, labelNames: readonly L[], read: () => Array<[Partial<Record<L, string>>, number]>): void {
    if (this.registry.getSingleMetric(name)) return;
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  }

  /** A gauge read when Prometheus scrapes (e.g. open long polls); registering a name twice is a no-op. */
  gauge(name: string, help: string, read: () => number): void {
    if (this.registry.getSingleMetric(name)) return;
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }
}

/** A counter of requests (or jobs) by `outcome`. */
export type OutcomeCounter = Counter<'outcome'>;

/** A counter of dropped or refused items by `reason`. */
export type ReasonCounter = Counter<'reason'>;

/** The outcome label of a failed request: limited (429), unavailable (503), rejected (other 4xx), failed (5xx). */
export function failureOutcome(err: unknown): 'limited' | 'unavailable' | 'rejected' | 'failed' {
  const { status } = mapError(err);
  if (status === 429) return 'limited';
  if (status === 503) return 'unavailable';
  return status < 500 ? 'rejected' : 'failed';
}

/** Runs a request's work and counts its outcome: `success(result)` when it resolves, the failure kind when it throws. */
export async function countOutcome<T>(counter: OutcomeCounter | undefined, success: (result: T) => string, work: () => Promise<T>): Promise<T> {
  try {
    const result = await work();
    counter?.inc({ outcome: success(result) });
    return result;
  } catch (err) {
    counter?.inc({ outcome: failureOutcome(err) });
    throw err;
  }
}

export interface RunningMetricsServer {
  url: string;
  port: number;
  /** Idempotent. */
  close(): Promise<void>;
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

/**
 * The bearer token scrapers must send, or undefined when none is needed (a loopback listener
 * without one configured). A listener on any other address without a token is a `ConfigError`.
 */
export function resolveMetricsToken(config: MetricsConfig): string | undefined {
  const token = config.token || (config.tokenFile ? readSecretFile(config.tokenFile, 'metrics token') : '');
  if (!token) {
    if (isLoopback(config.host)) return undefined;
    throw new ConfigError(
      `metrics.host is ${config.host}, not a loopback address: set FLEET_METRICS_TOKEN_FILE (or FLEET_METRICS_TOKEN) so scrapers must authenticate, or bind FLEET_METRICS_HOST to 127.0.0.1`,
    );
  }
  assertStrongToken(token, 'the metrics token', 'FLEET_METRICS_TOKEN / FLEET_METRICS_TOKEN_FILE');
  return token;
}

const UNAUTHORIZED = JSON.stringify({ statusCode: 401, error: 'Unauthorized', message: 'missing or invalid metrics token' });

/** Serves `GET /metrics` on its own listener (behind the bearer token, when one is set); anything else is 404. */
export async function startMetricsServer(metrics: ServiceMetrics, config: MetricsConfig, logger: Logger): Promise<RunningMetricsServer> {
  const token = resolveMetricsToken(config);
  const server: Server = createServer((req, res) => {
    if (token !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec((req.headers.authorization ?? '').trim());
      if (!m?.[1] || !constantTimeEquals(m[1], token)) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' }).end(UNAUTHORIZED);
        return;
      }
    }
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 404, error: 'Not Found', message: 'only GET /metrics here' }));
      return;
    }
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: unknown) => {
        logger.warn({ err }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 500, error: 'Internal Server Error', message: 'metrics collection failed' }));
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host: config.host, port, authenticated: token !== undefined }, 'metrics listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}/metrics`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
