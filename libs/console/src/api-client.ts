/** The management API's error body, and the error the console shows (in the API's own words). */
export interface ApiErrorBody {
  statusCode: number;
  error: string;
  message: string;
}

export class ApiError extends Error {
  constructor(readonly body: ApiErrorBody) {
    super(body.message);
  }
  get statusCode(): number {
    return this.body.statusCode;
  }
}

/** The CSRF token of the current session; every mutating call repeats it (set by the session context). */
let csrfToken: string | undefined;
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Called when the server answers 401: the session is gone (expired, signed out, key revoked). */
let onUnauthorized: (() => void) | undefined;
export function setUnauthorizedHandler(handler: (() => void) | undefined): void {
  onUnauthorized = handler;
}

export interface ApiRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  signal?: AbortSignal;
}

/** The URL of a management API path with its query string. */
export function apiUrl(path: string, query?: ApiRequest['query']): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/**
 * Calls the management API with the session cookie (same origin). Mutating calls carry the CSRF
 * header. A non-2xx answer becomes an ApiError with the server's {statusCode, error, message}.
 */
export async function apiFetch<T>(path: string, req: ApiRequest = {}): Promise<T> {
  const method = req.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (req.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-Fleet-CSRF-Token'] = csrfToken;
  const res = await fetch(apiUrl(path, req.query), {
    method,
    headers,
    credentials: 'same-origin',
    ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (!res.ok) {
    const body = parsed as Partial<ApiErrorBody> | undefined;
    if (res.status === 401) onUnauthorized?.();
    throw new ApiError({
      statusCode: body?.statusCode ?? res.status,
      error: body?.error ?? res.statusText,
      message: body?.message ?? (text.slice(0, 200) || res.statusText),
    });
  }
  return parsed as T;
}

/** A message for any thrown value, in the API's words when it is an ApiError. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return `${err.body.statusCode} ${err.body.error}: ${err.body.message}`;
  return err instanceof Error ? err.message : String(err);
}
