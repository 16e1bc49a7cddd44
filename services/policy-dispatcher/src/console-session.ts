import { AdminUnauthorizedError, type Logger } from '@fleet/service-kit';
import type { FleetStore, ManagementRole } from '@fleet/store';
import type { Request } from 'express';
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The console's session cookie, and the header its mutating calls repeat the CSRF token in. */
export const SESSION_COOKIE = 'fleet_console_session';
export const CSRF_HEADER = 'x-fleet-csrf-token';

/** Who a session is, until when, and the CSRF token its mutating calls must carry. */
export interface SessionClaims {
  /** The session's id (128 random bits): what sign-out records as ended. */
  sid: string;
  kind: 'bootstrap' | 'management-key';
  /** The management key's id (kind management-key). */
  id?: string;
  name: string;
  role: ManagementRole;
  /** Expiry, ms since the epoch. */
  exp: number;
  csrf: string;
}

const MAX_COOKIE_HEADER = 8_192;
/** 128 random bits, base64url. */
const SID = /^[A-Za-z0-9_-]{22}$/;
/** Expired records of ended sessions each sign-out sweeps (so the records stay bounded by sign-outs of live sessions). */
export const ENDED_SESSIONS_SWEEP = 100;
const VERSION = 'v1';

/**
 * Console sessions with no state on the server, so that any dispatcher replica serves any browser:
 * the cookie carries the actor, an expiry and a CSRF token, and an HMAC-SHA256 over them, keyed
 * with a key derived (HKDF) from the bootstrap admin token that every dispatcher shares. Changing
 * that token ends every session. A session of a management key is checked against the store on
 * every call (authenticateManagement), so revoking the key ends it at once on every replica. Each
 * session has a random id (`sid`); signing out records it as ended in the store, which every
 * replica reads on every call (liveSession).
 */
export class ConsoleSessions {
  private readonly key: Buffer;

  constructor(
    bootstrapToken: string,
    readonly ttlMs: number,
  ) {
    this.key = Buffer.from(hkdfSync('sha256', bootstrapToken, 'fleet-console-session', VERSION, 32));
  }

  /** A new session for `actor`: the cookie value and its claims. */
  issue(actor: Pick<SessionClaims, 'kind' | 'id' | 'name' | 'role'>, now = Date.now()): { value: string; claims: SessionClaims } {
    const claims: SessionClaims = {
      sid: randomBytes(16).toString('base64url'),
      kind: actor.kind,
      ...(actor.id ? { id: actor.id } : {}),
      name: actor.name,
      role: actor.role,
      exp: now + this.ttlMs,
      csrf: randomBytes(24).toString('base64url'),
    };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { value: `${VERSION}.${payload}.${this.mac(payload)}`, claims };
  }

  /** The claims of a cookie value whose MAC holds and that has not expired. */
  verify(value: string, now = Date.now()): SessionClaims | undefined {
    const [version, payload, mac] = value.split('.');
    if (version !== VERSION || !payload || !mac) return undefined;
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    let claims: SessionClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as SessionClaims;
    } catch {
      return undefined;
    }
    // A cookie without a sid was issued before sign-out could end it: refused (sign in again).
    const valid = typeof claims.exp === 'number' && claims.exp > now && typeof claims.csrf === 'string' && typeof claims.sid === 'string' && SID.test(claims.sid);
    return valid ? claims : undefined;
  }

  /** The session of a request's cookie, if any and valid. */
  fromRequest(req: IncomingMessage, now = Date.now()): SessionClaims | undefined {
    const value = cookieValue(req.headers.cookie, SESSION_COOKIE);
    return value === undefined ? undefined : this.verify(value, now);
  }

  /** Whether a mutating call repeats the session's CSRF token in its header (constant time). */
  static csrfMatches(req: IncomingMessage, claims: SessionClaims): boolean {
    const header = req.headers[CSRF_HEADER];
    if (typeof header !== 'string') return false;
    const a = Buffer.from(header);
    const b = Buffer.from(claims.csrf);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * The Set-Cookie header: HttpOnly (no script reads it), SameSite=Strict (no other site's page
   * sends it), Secure when the browser reached the server over TLS, and an expiry.
   */
  static cookie(value: string, maxAgeMs: number, secure: boolean): string {
    const attributes = [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`];
    if (secure) attributes.push('Secure');
    return attributes.join('; ');
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(`${VERSION}.${payload}`).digest('base64url');
  }
}

/**
 * The session of a request's cookie when it is valid (MAC, expiry, a sid) and was not signed out:
 * one read of the store by sid. 401 otherwise, and also when the store cannot answer (fail closed:
 * an ended session must never pass because the store was away).
 */
export async function liveSession(deps: { sessions: ConsoleSessions; store: FleetStore }, req: Request): Promise<SessionClaims> {
  const claims = deps.sessions.fromRequest(req);
  if (!claims) throw new AdminUnauthorizedError();
  let ended: boolean;
  try {
    ended = await deps.store.consoleSessions.isEnded(claims.sid);
  } catch (err) {
    req.log?.warn({ err }, 'console session refused: the store could not say whether it was signed out');
    throw new AdminUnauthorizedError();
  }
  if (ended) throw new AdminUnauthorizedError();
  return claims;
}

/**
 * Ends a session on every replica: records its sid as ended until the session's own expiry
 * (idempotent), then sweeps a bounded number of records whose sessions have expired anyway.
 */
export async function endSession(deps: { store: FleetStore; logger: Logger }, claims: SessionClaims, now = new Date()): Promise<void> {
  await deps.store.consoleSessions.end({ sid: claims.sid, expires_at: new Date(claims.exp).toISOString(), ended_at: now.toISOString() });
  try {
    await deps.store.consoleSessions.deleteExpired(now, ENDED_SESSIONS_SWEEP);
  } catch (err) {
    // The session is ended; the sweep runs again on the next sign-out.
    deps.logger.warn({ err }, 'expired console session records not swept');
  }
}

/** One cookie's value from a Cookie header (bounded; the first of that name). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > MAX_COOKIE_HEADER) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
