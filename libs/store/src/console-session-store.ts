/**
 * Console sessions that were signed out. A session cookie is a signed claim that any dispatcher
 * replica checks without shared state; what the replicas share is this record of the session ids
 * (`sid`) that ended, each kept until the session would have expired anyway.
 */

/** One ended session: its id, until when its cookie would have been valid, and when it ended. */
export interface EndedConsoleSession {
  sid: string;
  /** The session's own expiry (ISO 8601): after it the cookie is refused anyway, and the record may go. */
  expires_at: string;
  ended_at: string;
}

/** Longest session id the store accepts (ids are 22 base64url characters; this bounds a bad caller). */
export const MAX_SESSION_ID_LENGTH = 64;

export interface ConsoleSessionStore {
  /** Records the session as ended. Idempotent: ending it again keeps the first record. */
  end(record: EndedConsoleSession): Promise<void>;
  /** Whether the session was ended: one read by id, real time (a sign-out on one replica holds on all at once). */
  isEnded(sid: string): Promise<boolean>;
  /** Deletes at most `limit` records whose session expired before `before`; returns how many went. */
  deleteExpired(before: Date, limit: number): Promise<number>;
}
