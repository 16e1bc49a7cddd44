import type { ManagementRole } from '@fleet/store';
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The console's session cookie, and the header its mutating calls repeat the CSRF token in. */
export const SESSION_COOKIE = 'fleet_console_session';
export const CSRF_HEADER = 'x-fleet-csrf-token';

/** Who a session is, until when, and the CSRF token its mutating calls must carry. */
export interface SessionClaims {
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
const VERSION = 'v1';

/**
 * Console sessions with no state on the server, so that any dispatcher replica serves any browser:
 * the cookie carries the actor, an expiry and a CSRF token, and an HMAC-SHA256 over them, keyed
 * with a key derived (HKDF) from the bootstrap admin token that every dispatcher shares. Changing
 * that token ends every session. A session of a management key is checked against the store on
 * every call (authenticateManagement), so revoking the key ends it at once on every replica.
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
    return typeof claims.exp === 'number' && claims.exp > now && typeof claims.csrf === 'string' ? claims : undefined;
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

/** One cookie's value from a Cookie header (bounded; the first of that name). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > MAX_COOKIE_HEADER) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
