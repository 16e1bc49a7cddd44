import { useCallback } from 'react';
import { useSearchParams } from 'react-router-dom';

export type UrlPatch = Record<string, string | number | undefined>;

/**
 * The page's view state in its query string (tab, page, filter, open flyout), so every view is a
 * deep link and Back goes to the previous one. `set` changes the given keys (undefined or ''
 * removes one) and keeps the others.
 */
export function useUrlState(): {
  get: (key: string) => string | undefined;
  getInt: (key: string, fallback: number, min?: number, max?: number) => number;
  set: (patch: UrlPatch, options?: { replace?: boolean }) => void;
} {
  const [params, setParams] = useSearchParams();
  const get = useCallback((key: string) => params.get(key) ?? undefined, [params]);
  const getInt = useCallback(
    (key: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER) => {
      const n = Number(params.get(key));
      return params.has(key) && Number.isInteger(n) && n >= min && n <= max ? n : fallback;
    },
    [params],
  );
  const set = useCallback(
    (patch: UrlPatch, options?: { replace?: boolean }) => {
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          for (const [k, v] of Object.entries(patch)) {
            if (v === undefined || v === '') next.delete(k);
            else next.set(k, String(v));
          }
          return next;
        },
        { replace: options?.replace ?? false },
      );
    },
    [setParams],
  );
  return { get, getInt, set };
}
