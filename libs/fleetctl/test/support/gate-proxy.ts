import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GateProxy {
  url: string;
  /** Requests the gate held, in arrival order (method and path). */
  held: string[];
  close(): Promise<void>;
}

interface Pending {
  req: IncomingMessage;
  body: Buffer;
  send: (status: number, headers: Record<string, string | string[] | undefined>, body: Buffer) => void;
}

function forward(target: string, p: Pending): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = request(new URL(p.req.url ?? '/', target), { method: p.req.method, headers: { ...p.req.headers, host: new URL(target).host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        p.send(res.statusCode ?? 502, res.headers, Buffer.concat(chunks));
        resolve();
      });
    });
    upstream.once('error', reject);
    upstream.end(p.body);
  });
}

/**
 * A real HTTP proxy in front of the server that holds the requests `hold` selects until `count` of
 * them have arrived (or `timeoutMs` passed), then forwards them one after the other: two clients
 * that both read an object are made to write it in a known order, each after both have read.
 */
export async function startGateProxy(target: string, hold: (req: IncomingMessage) => boolean, count: number, timeoutMs = 10_000): Promise<GateProxy> {
  const pending: Pending[] = [];
  const held: string[] = [];
  let released = false;
  let timer: NodeJS.Timeout | undefined;
  const release = async () => {
    if (released) return;
    released = true;
    clearTimeout(timer);
    for (const p of pending.splice(0)) await forward(target, p).catch(() => p.send(502, {}, Buffer.from('{}')));
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      const p: Pending = {
        req,
        body: Buffer.concat(chunks),
        send: (status, headers, body) => {
          const { 'transfer-encoding': _te, connection: _c, ...rest } = headers;
          res.writeHead(status, { ...rest, 'content-length': String(body.length) });
          res.end(body);
        },
      };
      if (released || !hold(req)) {
        forward(target, p).catch(() => p.send(502, {}, Buffer.from('{}')));
        return;
      }
      held.push(`${req.method} ${req.url}`);
      pending.push(p);
      timer ??= setTimeout(() => void release(), timeoutMs);
      if (pending.length >= count) void release();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    close: () =>
      new Promise<void>((r) => {
        clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
