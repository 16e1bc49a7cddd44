import type { AckEvent, StatusResponse } from '@fleet/agent-protocol';
import {
  AGENT_ID_PATTERN,
  agentVersionOf,
  apiVersion,
  AuditReasonConflictError,
  BadRequestError,
  checkAgentUserAgent,
  countOutcome,
  DEFAULT_API_VERSION,
  DrainingError,
  errorHandler,
  goOptional,
  goString,
  parseApiKeyHeader,
  parseJsonObject,
  parseSemVer,
  readBody,
  resolveApiVersion,
  RouteLimiter,
  validateAgentBody,
  type ApiKeyAuthenticator,
  type HealthMonitor,
  type LeanRequest,
  type LeanRouter,
  type Logger,
  type OutcomeCounter,
} from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import { Router, type Request } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { z } from 'zod';
import { handleAcks, type AckDeps } from './acks';
import { authenticateAgent } from './authenticate-agent';
import { checkin, grantedPollMs, ResponseHangUp, type CheckinDeps } from './checkin';
import { checkCheckinBody } from './checkin-body';
import type { GatewayConfig } from './gateway-config';
import { serializeCheckinResponse } from './render-actions';

const gzipAsync = promisify(gzip);

const ackEvent = z.object({
  type: goOptional(z.string()),
  subtype: goOptional(z.string()),
  agent_id: goOptional(z.string()),
  // An empty action id is read (as Go reads it) and answered 404 for that item alone.
  action_id: goString(1024),
  message: goOptional(z.string().max(64 * 1024)),
  // Missing or null: Go's zero time in the reference; the time of receipt here.
  timestamp: goOptional(z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'must be an RFC 3339 timestamp')),
  error: goOptional(z.string().max(64 * 1024)),
  payload: goOptional(z.unknown()),
  data: goOptional(z.unknown()),
  action_input_type: goOptional(z.string()),
  action_data: goOptional(z.unknown()),
  action_response: goOptional(z.unknown()),
  started_at: goOptional(z.string()),
  completed_at: goOptional(z.string()),
});
const ackBody = z.object({ events: z.array(ackEvent).max(10_000) });
const auditBody = z.object({
  reason: z.enum(['uninstall', 'orphaned', 'key_revoked', 'migrated']),
  // Missing or null: the reference stores Go's zero time (year 1); the time of receipt is stored here.
  timestamp: goOptional(z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'must be an RFC 3339 timestamp')),
});

export interface GatewayRouteDeps {
  checkin: CheckinDeps;
  acks: AckDeps;
  store: FleetStore;
  authenticator: ApiKeyAuthenticator;
  health: HealthMonitor;
  logger: Logger;
  isDraining: () => boolean;
  /** Checkins and ack requests counted by outcome. */
  outcomes?: { checkins: OutcomeCounter; acks: OutcomeCounter };
  /** Told of every checkin request (the load the console shows). */
  onCheckin?: () => void;
}

interface CheckinAnswer {
  body: string | Buffer;
  /** Flat `[name, value, …]` pairs. */
  headers: readonly string[];
}

const JSON_HEADERS = ['Content-Type', 'application/json; charset=utf-8', 'Vary', 'Accept-Encoding'] as const;
const GZIP_JSON_HEADERS = [...JSON_HEADERS, 'Content-Encoding', 'gzip'] as const;

function agentIdParam(req: Request): string {
  return agentIdOf(req.params.id);
}

function agentIdOf(id: unknown): string {
  if (typeof id !== 'string' || !AGENT_ID_PATTERN.test(id)) throw new BadRequestError('invalid agent id in path');
  return id;
}

const acceptsGzip = (req: IncomingMessage): boolean =>
  String(req.headers['accept-encoding'] ?? '')
    .split(',')
    .some((v) => v.trim().split(';')[0]?.trim().toLowerCase() === 'gzip');

/** Thin handlers: limits, shape checks, authentication, then the domain functions. */
export interface GatewayRoutes {
  router: Router;
  /** Serves checkin and acks on `lean` (node:http, in front of the Express app) as well. */
  mountLean(lean: LeanRouter): void;
}

export function createGatewayRouter(deps: GatewayRouteDeps, config: GatewayConfig, serverVersion: string): GatewayRoutes {
  const router = Router();
  const version = parseSemVer(serverVersion) ?? { major: 9, minor: 6, patch: 0 };
  const limiters = {
    checkin: new RouteLimiter(config.limits.checkin),
    ack: new RouteLimiter(config.limits.ack),
    status: new RouteLimiter(config.limits.status),
    audit: new RouteLimiter(config.limits.auditUnenroll),
  };

  // The two hot routes: one implementation, served by the lean router (node:http) when the app has
  // one in front, and by these Express routes otherwise (and for paths only Express matches).
  const serveCheckin = async (req: IncomingMessage, res: ServerResponse, rawId: unknown): Promise<CheckinAnswer | undefined> => {
    const startedAt = Date.now();
    deps.onCheckin?.();
    let agentId = '';
    const result = await countOutcome(deps.outcomes?.checkins, (r) => r.outcome, async () => {
      if (deps.isDraining()) throw new DrainingError();
      const agentVersion = checkAgentUserAgent(req.headers['user-agent'], version);
      agentId = agentIdOf(rawId);
      const creds = parseApiKeyHeader(req.headers.authorization);
      // The key first, as the reference does: nobody without one makes the server inflate or parse.
      const agent = await authenticateAgent(deps, creds, agentId);
      const raw = await readBody(req, {
        maxBytes: config.limits.checkin.maxBodyBytes,
        maxDecompressedBytes: config.checkin.maxDecompressedBodyBytes,
      });
      const body = checkCheckinBody(parseJsonObject(raw));
      const pollMs = grantedPollMs(config.checkin, body.poll_timeout);
      return checkin(deps.checkin, { agent, apiKeyId: creds.id, body, agentVersion, pollMs, startedAt, signal: new ResponseHangUp(res) });
    });
    if (result.outcome === 'aborted') return undefined;
    const json = serializeCheckinResponse(agentId, result.ackToken, result.policy, result.actions, result.policyDataJson);
    const level = config.checkin.compressionLevel;
    if (level > 0 && json.length > config.checkin.compressionThresholdBytes && acceptsGzip(req)) {
      return { body: await gzipAsync(json, { level }), headers: GZIP_JSON_HEADERS };
    }
    return { body: json, headers: JSON_HEADERS };
  };
  const serveAcks = async (req: IncomingMessage, rawId: unknown) =>
    countOutcome(deps.outcomes?.acks, (r) => (r.status === 200 ? 'ok' : 'item_errors'), async () => {
      const agentId = agentIdOf(rawId);
      const creds = parseApiKeyHeader(req.headers.authorization);
      const agent = await authenticateAgent(deps, creds, agentId);
      const raw = await readBody(req, { maxBytes: config.limits.ack.maxBodyBytes, maxDecompressedBytes: config.limits.ack.maxBodyBytes * 4 });
      const body = validateAgentBody(ackBody, parseJsonObject(raw));
      return handleAcks(deps.acks, agent, body.events as AckEvent[], agentVersionOf(req.headers['user-agent']));
    });

  router.post('/api/fleet/agents/:id/checkin', apiVersion(), limiters.checkin.middleware(), async (req, res) => {
    const answer = await serveCheckin(req, res, req.params.id);
    if (!answer) return;
    for (let i = 0; i < answer.headers.length; i += 2) res.setHeader(answer.headers[i] as string, answer.headers[i + 1] as string);
    res.status(200).end(answer.body);
  });

  router.post('/api/fleet/agents/:id/acks', apiVersion(), limiters.ack.middleware(), async (req, res) => {
    const result = await serveAcks(req, req.params.id);
    res.status(result.status).json(result.body);
  });

  const mountLean = (lean: LeanRouter): void => {
    // As the Express chain runs them: API version, then the route's limits, then the handler.
    const limited = (lean: LeanRequest, limiter: RouteLimiter): void => {
      lean.headers.push('Elastic-Api-Version', DEFAULT_API_VERSION);
      lean.headers[lean.headers.length - 1] = resolveApiVersion(lean.req.headers['elastic-api-version']);
      const release = limiter.acquire();
      lean.res.once('finish', release);
      lean.res.once('close', release);
    };
    lean.route('POST', '/checkin', '/api/fleet/agents/:id/checkin', async (lean, id) => {
      limited(lean, limiters.checkin);
      const answer = await serveCheckin(lean.req, lean.res, id);
      if (answer) lean.send(200, answer.body, answer.headers);
    });
    lean.route('POST', '/acks', '/api/fleet/agents/:id/acks', async (lean, id) => {
      limited(lean, limiters.ack);
      const result = await serveAcks(lean.req, id);
      lean.json(result.status, JSON.stringify(result.body));
    });
  };

  router.post('/api/fleet/agents/:id/audit/unenroll', apiVersion(), limiters.audit.middleware(), async (req, res) => {
    const agentId = agentIdParam(req);
    const creds = parseApiKeyHeader(req.headers.authorization);
    const agent = await authenticateAgent(deps, creds, agentId);
    const raw = await readBody(req, {
      maxBytes: config.limits.auditUnenroll.maxBodyBytes,
      maxDecompressedBytes: config.limits.auditUnenroll.maxBodyBytes * 4,
    });
    const body = validateAgentBody(auditBody, parseJsonObject(raw));
    await deps.store.agents.mutate(agentId, (doc) => {
      if (doc.audit_unenrolled_reason === 'orphaned') throw new AuditReasonConflictError('agent is already orphaned');
      const now = new Date().toISOString();
      return { audit_unenrolled_time: body.timestamp ?? now, audit_unenrolled_reason: body.reason, updated_at: now };
    });
    deps.logger.info({ 'fleet.agent.id': agent._id, reason: body.reason }, 'agent audit unenroll recorded');
    res.status(200).end();
  });

  router.get('/api/status', apiVersion(), limiters.status.middleware(), async (req, res) => {
    const state = deps.health.state;
    const details = deps.health.details();
    const body: StatusResponse = { name: 'fleet-server', status: state, ...(details ? { details } : {}) };
    if (req.headers.authorization) {
      try {
        await deps.authenticator.authenticate(parseApiKeyHeader(req.headers.authorization));
        body.version = { number: serverVersion };
      } catch {
        // Status stays answerable without (valid) credentials; only the version is withheld.
      }
    }
    res.status(state === 'HEALTHY' ? 200 : 503).json(body);
  });

  router.use(errorHandler('agent'));
  return { router, mountLean };
}
