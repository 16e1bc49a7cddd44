import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';

/**
 * The floor of the CPU-per-checkin figure: a bare node:http server that answers the agent
 * protocol's enroll and checkin the least it can (read and parse the JSON body, hold a checkin,
 * answer a fixed small JSON), with no authentication, store, validation or router. A checkin with
 * a `poll_timeout` is held a second, one without it for FLOOR_POLL_MS; `POST /floor/release`
 * answers every held checkin at once. It is not Fleet Server; it tells what the Node HTTP stack
 * alone costs per request and per held poll under the same simulator on this machine. Listens on
 * 127.0.0.1:FLOOR_PORT; over TLS (node:https) when FLOOR_TLS_CERT and FLOOR_TLS_KEY name PEM files.
 */
const port = Number(process.env.FLOOR_PORT ?? 0);
const pollMs = Number(process.env.FLOOR_POLL_MS ?? 300_000);
const held = new Set<() => void>();
const CHECKIN = /^\/api\/fleet\/agents\/[^/]+\/checkin$/;

function readJson(req: IncomingMessage, done: (body: unknown) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.once('end', () => {
    try {
      done(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    } catch {
      done(undefined);
    }
  });
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

const handle: RequestListener = (req, res) => {
  const url = req.url ?? '';
  readJson(req, (body) => {
    if (body === undefined) return answer(res, 400, { statusCode: 400, error: 'Bad Request', message: 'invalid JSON' });
    if (req.method === 'POST' && url === '/api/fleet/agents/enroll') {
      return answer(res, 200, { action: 'created', item: { id: randomUUID(), access_api_key: randomUUID(), policy_id: 'floor', status: 'online' } });
    }
    if (req.method === 'POST' && CHECKIN.test(url)) {
      const release = () => {
        clearTimeout(timer);
        held.delete(release);
        answer(res, 200, { action: 'checkin', ack_token: 'floor', actions: [] });
      };
      const timer = setTimeout(release, (body as { poll_timeout?: string }).poll_timeout ? 1000 : pollMs);
      held.add(release);
      res.once('close', () => {
        clearTimeout(timer);
        held.delete(release);
      });
      return;
    }
    if (req.method === 'POST' && url === '/floor/release') {
      for (const release of [...held]) release();
      return answer(res, 200, {});
    }
    answer(res, 404, { statusCode: 404, error: 'Not Found', message: 'floor server' });
  });
};
const tls = process.env.FLOOR_TLS_CERT && process.env.FLOOR_TLS_KEY ? { cert: readFileSync(process.env.FLOOR_TLS_CERT), key: readFileSync(process.env.FLOOR_TLS_KEY) } : undefined;
const server = tls ? createTlsServer(tls, handle) : createServer(handle);
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.requestTimeout = 0;
server.listen(port, '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
