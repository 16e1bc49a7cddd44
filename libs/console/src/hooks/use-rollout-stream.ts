import { useEffect, useState } from 'react';
import { apiFetch, ApiError, apiUrl } from '../api-client';
import type { RolloutSnapshot } from '../fleet-types';

/** One sample of the progress curve, taken when a snapshot arrives. */
export interface RolloutPoint {
  /** ms since the epoch (the snapshot's sampled_at). */
  t: number;
  delivered: number;
  acknowledged: number;
  failed: number;
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface RolloutStream {
  snapshot: RolloutSnapshot | undefined;
  /** Samples since the page opened, oldest first (bounded). */
  history: RolloutPoint[];
  state: StreamState;
  /** Why the stream is not live: a transient failure while reconnecting, or the final answer when stopped. */
  error: unknown;
  /** When the next connection attempt is made (while reconnecting). */
  retryAt?: number;
  /**
   * Breaks since the last event. One is routine (the server ends every stream after its maximum
   * duration and the next one picks up), more say the server cannot be reached.
   */
  failures: number;
}

/** 1 s, 2 s, 4 s … up to 30 s between attempts, with jitter so many consoles do not reconnect together. */
export const MAX_BACKOFF_MS = 30_000;
export function backoffMs(attempt: number): number {
  const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attempt, 5));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** At most an hour of one-second samples. */
const MAX_POINTS = 3600;

/** Whether an answer means that asking again cannot help (a wrong id, no right): 4xx but timeouts and throttling. */
const isFinal = (err: unknown): boolean =>
  err instanceof ApiError && err.statusCode >= 400 && err.statusCode < 500 && err.statusCode !== 408 && err.statusCode !== 429;

/**
 * Follows a rollout: `<path>/stream` (server-sent `progress` events, the session cookie goes with
 * them as the page is same-origin). When the stream breaks (server restart, the server's maximum
 * stream duration, network) it is closed and opened again after a growing delay; meanwhile one
 * plain GET of `<path>` tells a lasting refusal (404, 403, 401) from a passing failure, and a
 * lasting one stops the retries. Everything is closed when the page goes away.
 */
export function useRolloutStream(path: string, query: Record<string, string | number | undefined>): RolloutStream {
  const streamUrl = apiUrl(`${path}/stream`, query);
  const snapshotUrl = apiUrl(path, query);
  const [stream, setStream] = useState<RolloutStream>({ snapshot: undefined, history: [], state: 'connecting', error: undefined, failures: 0 });

  useEffect(() => {
    let source: EventSource | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let closed = false;
    const probe = new AbortController();
    setStream({ snapshot: undefined, history: [], state: 'connecting', error: undefined, failures: 0 });

    const accept = (snapshot: RolloutSnapshot, live: boolean) => {
      const t = Date.parse(snapshot.sampled_at) || Date.now();
      setStream((prev) => {
        const last = prev.history[prev.history.length - 1];
        const point: RolloutPoint = { t, delivered: snapshot.delivered, acknowledged: snapshot.acknowledged, failed: snapshot.failed };
        const history = last && last.t >= t ? prev.history : [...prev.history, point].slice(-MAX_POINTS);
        return { ...prev, snapshot, history, error: undefined, ...(live ? { state: 'live' as const, retryAt: undefined, failures: 0 } : {}) };
      });
    };

    const connect = () => {
      if (closed) return;
      setStream((prev) => ({ ...prev, state: prev.snapshot ? prev.state : 'connecting', retryAt: undefined }));
      const es = new EventSource(streamUrl);
      source = es;
      es.addEventListener('progress', (ev: MessageEvent<string>) => {
        try {
          accept(JSON.parse(ev.data) as RolloutSnapshot, true);
          attempt = 0;
        } catch {
          // A malformed event is skipped; the next one replaces it.
        }
      });
      es.onerror = () => {
        es.close();
        if (source === es) source = undefined;
        if (closed) return;
        const delay = backoffMs(attempt++);
        setStream((prev) => ({ ...prev, state: 'reconnecting', retryAt: Date.now() + delay, failures: prev.failures + 1 }));
        apiFetch<{ item: RolloutSnapshot }>(snapshotUrl, { signal: probe.signal })
          .then(({ item }) => {
            if (!closed) accept(item, false);
          })
          .catch((err: unknown) => {
            if (closed) return;
            if (isFinal(err)) {
              closed = true;
              if (timer) clearTimeout(timer);
              timer = undefined;
              source?.close();
              setStream((prev) => ({ ...prev, state: 'stopped', error: err, retryAt: undefined }));
            } else {
              setStream((prev) => ({ ...prev, error: err }));
            }
          });
        timer = setTimeout(() => {
          timer = undefined;
          connect();
        }, delay);
      };
    };

    connect();
    return () => {
      closed = true;
      probe.abort();
      if (timer) clearTimeout(timer);
      source?.close();
    };
  }, [streamUrl, snapshotUrl]);

  return stream;
}
