import { managementRoutes as routes } from '@fleet/management-api';
import { CsrfTokenError, errorHandler, type Logger } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import { Router, type Response } from 'express';
import { ConsoleSessions, endSession, liveSession, type SessionClaims } from './console-session';
import { actorForToken, auditTrail, claimedActor, noteActor, sessionActor, type ManagementActor } from './management-auth';
import { serve } from './serve-route';

export const SESSION_PATH = routes.signIn.path;

/** What the console is told of its session: never the cookie, but the CSRF token it must repeat. */
const sessionView = (claims: SessionClaims, actor: ManagementActor) => ({
  role: actor.role,
  name: actor.name,
  expires_at: new Date(claims.exp).toISOString(),
  csrf_token: claims.csrf,
});

/**
 * The console's sign-in: the operator pastes a token once (the bootstrap admin token or a
 * management key), and gets an HttpOnly, SameSite=Strict session cookie (Secure over TLS) with an
 * expiry instead, so the browser never keeps the token. Sign-in is audited like any call that
 * changes something. Sign-out ends the session on every replica (its sid recorded as ended in the
 * store, so a copy of the cookie is refused from then on) and clears the cookie; it is audited,
 * needs the session's CSRF token, and is idempotent. The management API keeps taking Bearer tokens.
 */
export function consoleSessionRoutes(deps: { store: FleetStore; bootstrapToken: string; sessions: ConsoleSessions; logger: Logger }): Router {
  const router = Router();
  router.use(SESSION_PATH, auditTrail({ store: deps.store, logger: deps.logger }));
  const api = Router();
  serve(api, routes.signIn, async ({ body }, req, res) => {
    const actor = await actorForToken(deps, body.token);
    noteActor(res, actor, SESSION_PATH);
    const { value, claims } = deps.sessions.issue(actor);
    setSessionCookie(res, ConsoleSessions.cookie(value, deps.sessions.ttlMs, req.secure));
    res.json({ item: sessionView(claims, actor) });
  });
  serve(api, routes.getSession, async (_input, req, res) => {
    const claims = await liveSession(deps, req);
    // As the management API sees it now: a revoked key has no session, a changed role shows.
    const actor = await sessionActor(deps.store, claims);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ item: sessionView(claims, actor) });
  });
  serve(api, routes.signOut, async (_input, req, res) => {
    // A cookie that is absent, forged or expired names no session to end: only cleared. A valid one
    // (ended already or not) is ended, with its CSRF token, so another site cannot sign anyone out.
    const claims = deps.sessions.fromRequest(req);
    if (claims) {
      if (!ConsoleSessions.csrfMatches(req, claims)) throw new CsrfTokenError();
      noteActor(res, claimedActor(claims), SESSION_PATH);
      await endSession(deps, claims);
    }
    setSessionCookie(res, ConsoleSessions.cookie('', 0, req.secure));
    res.json({ action: 'deleted' });
  });
  router.use('/api/fleet', api);
  router.use(SESSION_PATH, errorHandler('kibana'));
  return router;
}

function setSessionCookie(res: Response, cookie: string): void {
  res.setHeader('Set-Cookie', cookie);
  res.setHeader('Cache-Control', 'no-store');
}
