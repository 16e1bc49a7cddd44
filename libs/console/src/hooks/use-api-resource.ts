import { useCallback, useEffect, useRef, useState } from 'react';
import { apiFetch, apiUrl, type ApiRequest } from '../api-client';

export interface ApiResource<T> {
  /** The last answer; kept while a refresh runs, so tables do not flicker. */
  data: T | undefined;
  /** The last failure (cleared by the next success). */
  error: unknown;
  /** True until the first answer (or failure) for the current path and query. */
  isLoading: boolean;
  /** Fetches again now. */
  reload: () => void;
}

/**
 * GETs a management API path and keeps the answer. With `refreshMs`, fetches again on that
 * interval while the page is visible (one request at a time; a hidden tab does not poll). A change
 * of path or query aborts the request in flight (with `keepPrevious`, the previous answer stays
 * shown until the new one arrives: paging a table keeps its rows under a progress bar). `path` null
 * fetches nothing.
 */
export function useApiResource<T>(
  path: string | null,
  query?: ApiRequest['query'],
  opts: { refreshMs?: number; keepPrevious?: boolean } = {},
): ApiResource<T> {
  const key = path === null ? null : apiUrl(path, query);
  const [state, setState] = useState<{ key: string | null; data: T | undefined; error: unknown; done: boolean }>({
    key,
    data: undefined,
    error: undefined,
    done: false,
  });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const inFlight = useRef(false);

  useEffect(() => {
    if (key === null) return;
    const ctrl = new AbortController();
    inFlight.current = true;
    apiFetch<T>(key, { signal: ctrl.signal })
      .then((data) => setState({ key, data, error: undefined, done: true }))
      .catch((error: unknown) => {
        if (!ctrl.signal.aborted) setState((s) => ({ key, data: s.key === key ? s.data : undefined, error, done: true }));
      })
      .finally(() => {
        inFlight.current = false;
      });
    return () => ctrl.abort();
  }, [key, tick]);

  const refreshMs = opts.refreshMs;
  useEffect(() => {
    if (!refreshMs || key === null) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible' && !inFlight.current) setTick((t) => t + 1);
    }, refreshMs);
    const onVisible = () => {
      if (document.visibilityState === 'visible') setTick((t) => t + 1);
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      window.clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [refreshMs, key]);

  const current = state.key === key;
  return {
    data: current || opts.keepPrevious ? state.data : undefined,
    error: current ? state.error : undefined,
    isLoading: key !== null && (!current || !state.done),
    reload,
  };
}
