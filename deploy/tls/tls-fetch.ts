/**
 * `fetch` over node:https with a CA and an optional client certificate: the global fetch of
 * Node 20 takes neither. Bodies are read whole (these are API calls and probes, not streams).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface TlsClientOptions {
  /** PEM of the CAs to trust (the system's are not used). */
  ca?: string;
  /** PEM client certificate and key, presented when the server asks. */
  cert?: string;
  key?: string;
  /** The name the server's certificate must carry, when it is not the URL's host. */
  servername?: string;
}

export interface TlsFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Whole-request timeout (default 30 s). */
  timeoutMs?: number;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/** One request; resolves to a WHATWG Response, rejects on a network or TLS failure (err.code set). */
export function tlsFetch(url: string, init: TlsFetchInit = {}, tls: TlsClientOptions = {}): Promise<Response> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: init.method ?? 'GET',
        headers: { ...(init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {}), ...init.headers },
        agent: false,
        ...(target.protocol === 'https:' ? tls : {}),
        timeout: init.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined) continue;
            for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
          }
          const status = res.statusCode ?? 0;
          resolve(new Response(NULL_BODY.has(status) ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers }));
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`${url}: timed out`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(init.body);
  });
}
