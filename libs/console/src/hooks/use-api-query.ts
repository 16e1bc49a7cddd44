import { useCallback, useEffect, useRef, useState } from 'react';
import { apiFetch, apiUrl, type ApiRequest } from '../api-client';

export interface ApiQuery<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Asks again (after a change); the current data stays shown until the answer comes. */
  reload: () => void;
}

/**
 * GETs a management API path and keeps the answer, the error and whether a call is running.
 * The call is made again when the path or the query changes; a superseded call is aborted, so an
 * old answer never replaces a newer one. `path` undefined waits (nothing to ask yet).
 */
export function useApiQuery<T>(path: string | undefined, query?: ApiRequest['query']): ApiQuery<T> {
  const key = path === undefined ? undefined : apiUrl(path, query);
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(key !== undefined);
  const [generation, setGeneration] = useState(0);
  const lastPath = useRef<string | undefined>(undefined);

  useEffect(() => {
    if (key === undefined) return;
    // Another resource: the previous one's data must not stand in for it. Another page or filter
    // of the same list keeps the rows shown (with the loading bar) until the answer comes.
    if (lastPath.current !== path) {
      lastPath.current = path;
      setData(undefined);
      setError(undefined);
    }
    const ctrl = new AbortController();
    setLoading(true);
    apiFetch<T>(key, { signal: ctrl.signal })
      .then((answer) => {
        setData(answer);
        setError(undefined);
      })
      .catch((err: unknown) => {
        if (!ctrl.signal.aborted) setError(err);
      })
      .finally(() => {
        if (!ctrl.signal.aborted) setLoading(false);
      });
    return () => ctrl.abort();
  }, [key, path, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data, error, loading, reload };
}
