import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router-dom';
import { apiFetch, ApiError, setCsrfToken, setUnauthorizedHandler } from './api-client';

export const SESSION_PATH = '/api/fleet/console/session';

/** What the server tells the console of its session (never the cookie itself). */
export interface Session {
  role: 'admin' | 'operator' | 'read-only' | 'enroll-only';
  name: string;
  expires_at: string;
  csrf_token: string;
}

interface SessionState {
  /** undefined while the first check runs; null when there is no session. */
  session: Session | null | undefined;
  signIn: (token: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionState | undefined>(undefined);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const adopt = useCallback((s: Session | null) => {
    setCsrfToken(s?.csrf_token);
    setSession(s);
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => adopt(null));
    const ctrl = new AbortController();
    apiFetch<{ item: Session }>(SESSION_PATH, { signal: ctrl.signal })
      .then((r) => adopt(r.item))
      .catch((err: unknown) => {
        if (!ctrl.signal.aborted) adopt(err instanceof ApiError && err.statusCode === 401 ? null : null);
      });
    return () => {
      ctrl.abort();
      setUnauthorizedHandler(undefined);
    };
  }, [adopt]);

  const value = useMemo<SessionState>(
    () => ({
      session,
      async signIn(token: string) {
        const r = await apiFetch<{ item: Session }>(SESSION_PATH, { method: 'POST', body: { token } });
        adopt(r.item);
      },
      async signOut() {
        try {
          await apiFetch(SESSION_PATH, { method: 'DELETE' });
        } finally {
          adopt(null);
        }
      },
    }),
    [session, adopt],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSession outside SessionProvider');
  return state;
}

/** Whether the session's role may change things (operators act on agents; admins on everything). */
export const canOperate = (s: Session | null | undefined) => s?.role === 'admin' || s?.role === 'operator';
export const canAdminister = (s: Session | null | undefined) => s?.role === 'admin';

/** Renders its children with a session; without one, redirects to the sign-in page (and back after). */
export function RequireSession({ children }: { children: ReactNode }) {
  const { session } = useSession();
  const location = useLocation();
  if (session === undefined) return null;
  if (session === null) {
    const next = `${location.pathname}${location.search}`;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}
