import { nameRequestSpan } from '@fleet/telemetry';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientCertificateLogFields, clientCertificateOf, type ClientCertificateIdentity } from './client-certificate';
import { mapError } from './errors';
import { securityHeaders } from './http-middleware';
import type { Logger } from './logger';
import type { ServiceMetrics } from './metrics';

/**
 * A lean route: the handler gets node:http's request and response and the `:id` of its path. It
 * answers through `LeanRequest` (or throws; the error table maps what it throws).
 */
export type LeanHandler = (lean: LeanRequest, id: string) => Promise<void>;

interface LeanRoute {
  method: string;
  /** The path after `/<prefix>/<id>`, e.g. `/checkin`. */
  suffix: string;
  /** The route pattern, as Express's routes label it in metrics (bounded: never the raw path). */
  label: string;
  handler: LeanHandler;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Security headers for the JSON agent API, computed once from the same helmet configuration the
 * Express front uses, so both fronts answer with the same set, as a flat `[name, value, …]` array.
 */
export function precomputedSecurityHeaders(): string[] {
  const flat: string[] = [];
  const stub = {
    setHeader(name: string, value: string | number | readonly string[]) {
      flat.push(name, String(value));
    },
    removeHeader: () => undefined,
    getHeader: () => undefined,
  };
  let synchronous = false;
  securityHeaders()({ headers: {}, method: 'GET', url: '/' } as never, stub as never, () => {
    synchronous = true;
  });
  if (!synchronous) throw new Error('security headers: helmet did not run synchronously');
  return flat;
}

/**
 * Everything the Express front does for a request, for a handful of hot agent routes on plain
 * node:http: the security headers (computed once), `X-Request-Id` and `X-Fleet-Replica`, the
 * request log line (client address through trusted proxies only), the request and refusal
 * metrics, and the `{statusCode, error, message}` answer for whatever a handler throws.
 */
export class LeanRequest {
  readonly requestId: string;
  /** Headers every answer to this request carries, errors included (flat pairs), e.g. the API version. */
  readonly headers: string[] = [];
  private readonly startNs = process.hrtime.bigint();

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly router: LeanRouter,
    readonly route: LeanRoute,
  ) {
    const incoming = req.headers['x-request-id'];
    this.requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  }

  /** Sends the whole answer in one `writeHead`: the common headers, then `extra` (flat pairs). */
  send(status: number, body: string | Buffer | undefined, extra: readonly string[] = []): void {
    const headers = this.router.headersFor(this.requestId, this.headers, extra);
    if (body !== undefined) headers.push('Content-Length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.length));
    this.res.writeHead(status, headers);
    this.res.end(body);
  }

  json(status: number, json: string): void {
    this.send(status, json, JSON_TYPE);
  }

  /** The error table's answer to `err` (as Express's error handler gives it). */
  fail(err: unknown): void {
    if (this.res.headersSent) {
      this.req.socket.destroy();
      return;
    }
    const mapped = mapError(err, 'agent');
    if (mapped.unexpected) this.router.logger.error({ err, 'http.request.id': this.requestId }, 'request failed');
    else {
      this.refusal = err instanceof Error ? refusalReason(err) : undefined;
      this.router.logger.debug({ 'http.request.id': this.requestId, error: mapped.body.error, reason: mapped.body.message }, 'request refused');
    }
    const extra = mapped.retryAfterSeconds !== undefined ? [...JSON_TYPE, 'Retry-After', String(mapped.retryAfterSeconds)] : JSON_TYPE;
    this.send(mapped.status, JSON.stringify(mapped.body), extra);
  }

  /** Set by `fail` for the refusal counter: the failure kind, never its message. */
  refusal: string | undefined;

  /** Metrics and the request log line, once the answer is sent. */
  finished(): void {
    const status = this.res.statusCode;
    const metrics = this.router.metrics;
    const route = this.route.label;
    metrics?.httpRequests.inc({ route, status_code: String(status) });
    if (metrics && (status === 429 || status === 503)) metrics.httpRefused.inc({ route, reason: this.refusal ?? 'other' });
    const logger = this.router.logger;
    if (!logger.isLevelEnabled('info')) return;
    const url = this.req.url ?? '/';
    const q = url.indexOf('?');
    logger.info(
      {
        'http.request.id': this.requestId,
        'http.request.method': this.req.method,
        'url.path': q === -1 ? url : url.slice(0, q),
        'client.address': this.router.clientAddress(this.req),
        ...clientCertificateLogFields(this.router.clientCertificate(this.req)),
        'http.response.status_code': status,
        'event.duration_ms': Number(process.hrtime.bigint() - this.startNs) / 1e6,
      },
      'request',
    );
  }
}

const JSON_TYPE = ['Content-Type', 'application/json; charset=utf-8'] as const;

function onFinish(this: ServerResponse & { lean?: LeanRequest }): void {
  this.lean?.finished();
}

/**
 * A small router of fixed `POST <prefix>/<id><suffix>` routes served on node:http before Express.
 * Only an exact, plain match is taken (no trailing slash, no percent-encoding, no other case);
 * anything else falls through to the Express app, which answers it as before (404, 405, …).
 */
export class LeanRouter {
  private readonly routes = new Map<string, LeanRoute>();
  private readonly commonHeaders: string[];

  constructor(
    readonly logger: Logger,
    replicaId: string,
    readonly metrics: ServiceMetrics | undefined,
    private readonly trust: (addr: string, i: number) => boolean,
    private readonly prefix = '/api/fleet/agents/',
  ) {
    this.commonHeaders = [...precomputedSecurityHeaders(), 'X-Fleet-Replica', replicaId];
  }

  /** Adds `method <prefix><id><suffix>`; `label` names the route in metrics. */
  route(method: string, suffix: string, label: string, handler: LeanHandler): void {
    this.routes.set(`${method} ${suffix}`, { method, suffix, label, handler });
  }

  headersFor(requestId: string, own: readonly string[], extra: readonly string[]): string[] {
    const headers = this.commonHeaders.slice();
    headers.push('X-Request-Id', requestId);
    for (const h of own) headers.push(h);
    for (const h of extra) headers.push(h);
    return headers;
  }

  /** Serves the request when one of the routes matches it exactly; false hands it to Express. */
  dispatch(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.routes.size === 0) return false;
    const url = req.url ?? '';
    if (!url.startsWith(this.prefix)) return false;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const slash = path.indexOf('/', this.prefix.length);
    if (slash <= this.prefix.length) return false;
    const id = path.slice(this.prefix.length, slash);
    if (id.includes('%')) return false;
    const route = this.routes.get(`${req.method ?? ''} ${path.slice(slash)}`);
    if (!route) return false;
    nameRequestSpan(route.method, route.label);
    const lean = new LeanRequest(req, res, this, route);
    (res as ServerResponse & { lean?: LeanRequest }).lean = lean;
    res.once('finish', onFinish);
    route.handler(lean, id).catch((err: unknown) => lean.fail(err));
    return true;
  }

  /** The verified client certificate, directly or through a trusted proxy. */
  clientCertificate(req: IncomingMessage): ClientCertificateIdentity | undefined {
    return clientCertificateOf(req, this.trust);
  }

  /** The socket peer, or what a trusted proxy forwarded (as Express's `req.ip` computes it). */
  clientAddress(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? '';
    if (!this.trust(peer, 0)) return peer;
    const forwarded = req.headers['x-forwarded-for'];
    if (typeof forwarded !== 'string') return peer;
    const hops = forwarded.split(',');
    let address = peer;
    for (let i = hops.length - 1, n = 1; i >= 0; i--, n++) {
      address = (hops[i] ?? '').trim();
      if (!this.trust(address, n)) return address;
    }
    return address;
  }
}

/** `RateLimitError` → `rate_limit`: the refusal reason label (as the Express error handler names it). */
function refusalReason(err: Error): string {
  return err.constructor.name
    .replace(/Error$/, '')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

const routers = new WeakMap<Express, LeanRouter>();

/** Registers the lean router served in front of `app` (createServiceApp does). */
export function attachLeanRouter(app: Express, router: LeanRouter): void {
  routers.set(app, router);
}

/** The lean router in front of `app`, if any. */
export function leanRouterOf(app: Express): LeanRouter | undefined {
  return routers.get(app);
}
