import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { randomUUID } from 'node:crypto';
import {
  InvalidApiVersionFormatError,
  InvalidUserAgentError,
  mapError,
  RouteNotFoundError,
  UnsupportedAgentVersionError,
  UnsupportedApiVersionError,
  type ErrorStyle,
} from './errors';
import { clientCertificateLogFields, clientCertificateOf } from './client-certificate';
import type { Logger } from './logger';
import type { ServiceMetrics } from './metrics';

declare module 'express-serve-static-core' {
  interface Request {
    id: string;
    log: Logger;
  }
}

/** Security headers for a JSON-only API: nothing may be framed, loaded or sniffed. */
export const securityHeaders = (): RequestHandler =>
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    frameguard: { action: 'deny' },
    hsts: false,
  });

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Load balancer and kubelet probes arrive every second or so: logged at debug, not info. */
const PROBE_PATHS = new Set(['/livez', '/readyz']);

/** Reads or creates `X-Request-Id`, echoes it, and gives the request a child logger. */
export function requestContext(logger: Logger, replicaId: string, metrics?: ServiceMetrics): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const incoming = req.headers['x-request-id'];
    req.id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.log = logger.child({ 'http.request.id': req.id });
    res.setHeader('X-Request-Id', req.id);
    res.setHeader('X-Fleet-Replica', replicaId);
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      // The route pattern (bounded), never the raw path (agent ids would explode the series).
      const route = req.route ? `${req.baseUrl}${String((req.route as { path: unknown }).path)}` : 'unmatched';
      metrics?.httpRequests.inc({ route, status_code: String(res.statusCode) });
      if (metrics && (res.statusCode === 429 || res.statusCode === 503)) {
        metrics.httpRefused.inc({ route, reason: (res.locals as { refusal?: string }).refusal ?? 'other' });
      }
      // The full path as the client sent it (req.path is relative to the router that matched), never
      // the query string: it may carry secrets.
      const path = requestPath(req);
      const level = PROBE_PATHS.has(path) && res.statusCode === 200 ? 'debug' : 'info';
      req.log[level](
        {
          'http.request.method': req.method,
          'url.path': path,
          'client.address': clientAddress(req),
          ...clientCertificateLogFields(clientCertificateOf(req, trustedPeer(req))),
          'http.response.status_code': res.statusCode,
          'event.duration_ms': ms,
        },
        'request',
      );
    });
    next();
  };
}

/** The request's path from the root, without the query string (`req.path` is router-relative). */
export function requestPath(req: Request): string {
  const url = req.originalUrl || req.url || '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * The client's address: the socket peer, or, when the peer is a configured trusted proxy
 * (`http.trustProxy`), the address it forwarded (Express's `trust proxy`). Never taken from a
 * header an untrusted peer sent.
 */
export function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? '';
}

/** Express's compiled `trust proxy` setting (configureTrustProxy), as a predicate. */
function trustedPeer(req: Request): (address: string, hop: number) => boolean {
  const fn = req.app.get('trust proxy fn') as ((address: string, hop: number) => boolean) | undefined;
  return fn ?? (() => false);
}

export const API_VERSIONS = ['2023-06-01'] as const;

export const DEFAULT_API_VERSION = '2023-06-01';

/** The `Elastic-Api-Version` a request asks for (the default when absent); throws when invalid. */
export function resolveApiVersion(value: string | string[] | undefined): string {
  if (value === undefined) return DEFAULT_API_VERSION;
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    throw new InvalidApiVersionFormatError(`invalid version format: ${String(value)}`);
  }
  if (!(API_VERSIONS as readonly string[]).includes(value)) {
    throw new UnsupportedApiVersionError(`version ${value} is not supported`);
  }
  return value;
}

/** `Elastic-Api-Version`: validated when present, echoed (or the default) on every response. */
export const apiVersion = (): RequestHandler => (req, res, next) => {
  res.setHeader('Elastic-Api-Version', DEFAULT_API_VERSION);
  try {
    res.setHeader('Elastic-Api-Version', resolveApiVersion(req.headers['elastic-api-version']));
  } catch (err) {
    return next(err);
  }
  next();
};

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
}

export function parseSemVer(value: string): SemVer | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(value);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

/** Orders two versions by major, minor, patch. */
export function compareSemVer(a: SemVer, b: SemVer): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** What follows `Elastic Agent ` in a User-Agent, up to any `-suffix`; undefined for anything else. */
function agentVersionText(header: string | undefined): string | undefined {
  const ua = (header ?? '').toLowerCase();
  const prefix = 'elastic agent ';
  return ua.startsWith(prefix) ? (ua.slice(prefix.length).split('-')[0] ?? '').trim() : undefined;
}

/** The version an `Elastic Agent v<semver>` User-Agent carries, or undefined (never throws). */
export function agentVersionOf(header: string | undefined): SemVer | undefined {
  const text = agentVersionText(header);
  return text === undefined ? undefined : parseSemVer(text);
}

/**
 * The User-Agent rule of enroll and checkin: `Elastic Agent v<semver>`, at least 7.13 and not
 * newer than the server's major.minor. Returns the agent version.
 */
export function checkAgentUserAgent(header: string | undefined, serverVersion: SemVer): string {
  const text = agentVersionText(header);
  if (text === undefined) throw new InvalidUserAgentError('user-agent is not an Elastic Agent');
  const version = parseSemVer(text);
  if (!version) throw new InvalidUserAgentError('user-agent does not carry a valid version');
  const tooOld = version.major < 7 || (version.major === 7 && version.minor < 13);
  const tooNew =
    version.major > serverVersion.major || (version.major === serverVersion.major && version.minor > serverVersion.minor);
  if (tooOld || tooNew) {
    throw new UnsupportedAgentVersionError(
      `version ${version.major}.${version.minor}.${version.patch} is not supported (>= 7.13.0, <= ${serverVersion.major}.${serverVersion.minor}.x)`,
    );
  }
  return `${version.major}.${version.minor}.${version.patch}`;
}

/** Writes the `{statusCode, error, message}` body; unexpected failures are logged with their stack. */
export function errorHandler(style: ErrorStyle = 'agent'): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const mapped = mapError(err, style);
    // For the refusal counter: the failure kind (a bounded set of class names), never its message.
    if (!mapped.unexpected && err instanceof Error) (res.locals as { refusal?: string }).refusal = refusalReason(err);
    const log = req.log ?? undefined;
    if (mapped.unexpected) log?.error({ err }, 'request failed');
    else log?.debug({ error: mapped.body.error, reason: mapped.body.message }, 'request refused');
    if (mapped.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(mapped.retryAfterSeconds));
    res.status(mapped.status).type('application/json; charset=utf-8').send(JSON.stringify(mapped.body));
  };
}

/** The 404 for unknown routes, in the same error shape. */
export const notFound = (): RequestHandler => (req, _res, next) => next(new RouteNotFoundError(req.path));

/** `RateLimitError` → `rate_limit`: the refusal reason label. */
function refusalReason(err: Error): string {
  return err.constructor.name
    .replace(/Error$/, '')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}
