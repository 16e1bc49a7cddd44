import {
  AdminUnauthorizedError,
  clientAddress,
  CsrfTokenError,
  ManagementForbiddenError,
  type Logger,
} from '@fleet/service-kit';
import {
  constantTimeEquals,
  newId,
  parseManagementKeyToken,
  verifyManagementKey,
  type AuditActor,
  type AuditRecord,
  type AuditTarget,
  type FleetStore,
  type ManagementRole,
} from '@fleet/store';
import type { Request, RequestHandler, Response } from 'express';
import { ConsoleSessions, liveSession, type SessionClaims } from './console-session';

/** Who is calling the management API: a management key, or the bootstrap admin token. */
export type ManagementActor = AuditActor;

/** The actor of the bootstrap admin token. */
export const BOOTSTRAP_ACTOR: ManagementActor = Object.freeze({ kind: 'bootstrap', name: 'bootstrap', role: 'admin' });

interface AuditLocals {
  actor?: ManagementActor;
  route?: string;
  /** The route's path parameters, kept here: Express resets `req.params` once the route is left (on an error). */
  params?: Record<string, string | undefined>;
  auditTarget?: AuditTarget;
  actionType?: string;
}

const locals = (res: Response): AuditLocals => res.locals as AuditLocals;
const MAX_AUDITED_IDS = 100;
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Records who is calling, for `allow` and the audit trail (authentication outside authenticateManagement). */
export function noteActor(res: Response, actor: ManagementActor, route: string): void {
  locals(res).actor = actor;
  locals(res).route = route;
}

/** The authenticated actor of a request (set by `authenticateManagement`). */
export function actorOf(res: Response): ManagementActor {
  const actor = locals(res).actor;
  if (!actor) throw new AdminUnauthorizedError();
  return actor;
}

/**
 * The actor a token names: a management key (`fmk_<id>_<secret>`, looked up by id, its secret
 * checked against the stored salted hash in constant time, refused once revoked), else the
 * bootstrap admin token (constant-time compare). Anything else is 401.
 */
export async function actorForToken(deps: { store: FleetStore; bootstrapToken: string }, presented: string): Promise<ManagementActor> {
  const key = parseManagementKeyToken(presented);
  if (key) {
    const record = await deps.store.managementKeys.get(key.id);
    if (!record || !verifyManagementKey(record, key.secret)) throw new AdminUnauthorizedError();
    return { kind: 'management-key', id: record.id, name: record.name, role: record.role };
  }
  if (constantTimeEquals(presented, deps.bootstrapToken)) return BOOTSTRAP_ACTOR;
  throw new AdminUnauthorizedError();
}

/**
 * `Authorization: Bearer <token>` (see actorForToken), or, without that header, the console's
 * session cookie. A session is refused once signed out, on every replica (liveSession); a session
 * of a management key is checked against the store on every call (the key revoked, or its role
 * changed, holds at once on every replica); and a session's call that changes something must
 * repeat the session's CSRF token in `X-Fleet-CSRF-Token`.
 */
export function authenticateManagement(deps: { store: FleetStore; bootstrapToken: string; sessions?: ConsoleSessions }): RequestHandler {
  return async (req, res, next) => {
    if (req.headers.authorization !== undefined || !deps.sessions) {
      const m = /^Bearer\s+(\S+)$/i.exec((req.headers.authorization ?? '').trim());
      const presented = m?.[1];
      if (!presented) throw new AdminUnauthorizedError();
      locals(res).actor = await actorForToken(deps, presented);
      next();
      return;
    }
    const claims = await liveSession({ sessions: deps.sessions, store: deps.store }, req);
    if (!READ_METHODS.has(req.method) && !ConsoleSessions.csrfMatches(req, claims)) throw new CsrfTokenError();
    locals(res).actor = await sessionActor(deps.store, claims);
    next();
  };
}

/** The actor a session's claims name, as signed (for the audit record of its sign-out, even once its key is revoked). */
export function claimedActor(claims: SessionClaims): ManagementActor {
  if (claims.kind === 'bootstrap') return BOOTSTRAP_ACTOR;
  return { kind: 'management-key', ...(claims.id ? { id: claims.id } : {}), name: claims.name, role: claims.role };
}

/** The actor of a valid session: as signed for the bootstrap token, as stored now for a management key. */
export async function sessionActor(store: FleetStore, claims: SessionClaims): Promise<ManagementActor> {
  if (claims.kind === 'bootstrap') return BOOTSTRAP_ACTOR;
  const record = claims.id ? await store.managementKeys.get(claims.id) : undefined;
  if (!record || record.revoked_at !== undefined) throw new AdminUnauthorizedError();
  return { kind: 'management-key', id: record.id, name: record.name, role: record.role };
}

/**
 * The roles a route allows (every route names them; 403 for any other role). Also notes the route
 * pattern for the audit record.
 */
export function allow(...roles: ManagementRole[]): RequestHandler {
  return (req, res, next) => {
    const route = (req.route as { path?: unknown } | undefined)?.path;
    locals(res).route = `${req.baseUrl}${typeof route === 'string' ? route : ''}`;
    locals(res).params = { ...(req.params as Record<string, string | undefined>) };
    const actor = actorOf(res);
    if (!roles.includes(actor.role)) {
      throw new ManagementForbiddenError(`role ${actor.role} may not ${req.method} ${locals(res).route} (allowed: ${roles.join(', ')})`);
    }
    next();
  };
}

// The roles of each route are the route table's (@fleet/management-api).
export { ADMIN_ROLES, OPERATOR_ROLES, OVERSIGHT_ROLES, READ_ROLES } from '@fleet/management-api';

/** What a handler names or creates, for the audit record (agent id lists are capped). */
export function noteAuditTarget(res: Response, target: AuditTarget, actionType?: string): void {
  const l = locals(res);
  const merged: AuditTarget = { ...l.auditTarget, ...target };
  if (target.agent_ids) {
    merged.agent_count = target.agent_ids.length;
    merged.agent_ids = target.agent_ids.slice(0, MAX_AUDITED_IDS);
  }
  l.auditTarget = merged;
  if (actionType) l.actionType = actionType;
}

/**
 * Writes an audit record for every authenticated non-read call once it is answered: who (the
 * actor), what (method, route pattern, targets, action type), when, from where (the client
 * address, trusted-proxy aware) and the status code. Unauthenticated calls are not stored (their
 * request log line has the address and the 401), so they cannot fill the trail. A record that
 * cannot be written is logged whole at error level.
 */
export function auditTrail(deps: { store: FleetStore; logger: Logger }): RequestHandler {
  return (req, res, next) => {
    if (READ_METHODS.has(req.method)) {
      next();
      return;
    }
    let written = false;
    const write = (): void => {
      const l = locals(res);
      if (written || !l.actor) return;
      written = true;
      const record = auditRecordOf(req, res, l);
      deps.store.audit.append(record).catch((err: unknown) => {
        (req.log ?? deps.logger).error({ err, audit: record }, 'audit record not written');
      });
    };
    res.once('finish', write);
    res.once('close', write);
    next();
  };
}

function auditRecordOf(req: Request, res: Response, l: AuditLocals): AuditRecord {
  const params = l.params ?? {};
  const target: AuditTarget = { ...l.auditTarget };
  if (params.id && !target.agent_ids && !target.policy_id && !target.enrollment_key_id && !target.management_key_id) {
    // A path id whose kind the handler did not name: the route pattern says what it is.
    if (l.route?.includes('/agents/')) target.agent_ids = [params.id];
    else if (l.route?.includes('/agent_policies/')) target.policy_id = params.id;
    else if (l.route?.includes('/enrollment_api_keys/')) target.enrollment_key_id = params.id;
    else if (l.route?.includes('/management_api_keys/')) target.management_key_id = params.id;
  }
  if (params.fileId) target.file_id = params.fileId;
  return {
    id: newId(),
    '@timestamp': new Date().toISOString(),
    actor: { ...(l.actor as ManagementActor) },
    request: { method: req.method, route: l.route ?? 'unmatched', id: req.id ?? '' },
    target,
    ...(l.actionType ? { action_type: l.actionType } : {}),
    client: { address: clientAddress(req) },
    outcome: { status_code: res.statusCode, ...(res.writableFinished ? {} : { aborted: true as const }) },
  };
}
