import { AdminUnauthorizedError, errorHandler, validateInput, type Logger } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import { Router, type Response } from 'express';
import { z } from 'zod';
import { ConsoleSessions, type SessionClaims } from './console-session';
import { actorForToken, auditTrail, noteActor, sessionActor, type ManagementActor } from './management-auth';
import { readJsonInput } from './management-input';

export const SESSION_PATH = '/api/fleet/console/session';

const signInBody = z.object({ token: z.string().min(1).max(512) }).strict();

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
 * changes something; sign-out clears the cookie. The management API keeps taking Bearer tokens.
 */
export function consoleSessionRoutes(deps: { store: FleetStore; bootstrapToken: string; sessions: ConsoleSessions; logger: Logger }): Router {
  const router = Router();
  router.use(SESSION_PATH, auditTrail({ store: deps.store, logger: deps.logger }));
  router.post(SESSION_PATH, async (req, res) => {
    const body = validateInput(signInBody, await readJsonInput(req, 4_096));
    const actor = await actorForToken(deps, body.token);
    noteActor(res, actor, SESSION_PATH);
    const { value, claims } = deps.sessions.issue(actor);
    setSessionCookie(res, ConsoleSessions.cookie(value, deps.sessions.ttlMs, req.secure));
    res.json({ item: sessionView(claims, actor) });
  });
  router.get(SESSION_PATH, async (req, res) => {
    const claims = deps.sessions.fromRequest(req);
    if (!claims) throw new AdminUnauthorizedError();
    // As the management API sees it now: a revoked key has no session, a changed role shows.
    const actor = await sessionActor(deps.store, claims);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ item: sessionView(claims, actor) });
  });
  router.delete(SESSION_PATH, (req, res) => {
    setSessionCookie(res, ConsoleSessions.cookie('', 0, req.secure));
    res.json({ action: 'deleted' });
  });
  router.use(SESSION_PATH, errorHandler('kibana'));
  return router;
}

function setSessionCookie(res: Response, cookie: string): void {
  res.setHeader('Set-Cookie', cookie);
  res.setHeader('Cache-Control', 'no-store');
}
