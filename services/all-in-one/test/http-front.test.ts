import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import request from 'supertest';
import { loadConfig, precomputedSecurityHeaders } from '@fleet/service-kit';
import { allInOneSchema } from '../src/index';
import { eventually, startHarness, type Harness } from './support/fleet-server-harness';

const METRICS_TOKEN = 'b3f1c9e07a4d2c8e5f6a1b9d0c7e4f2a8b5d3c1e9f7a6b4d';

type LogLine = Record<string, unknown>;
const requestLines = (h: Harness): LogLine[] =>
  h.logs.map((l) => JSON.parse(l) as LogLine).filter((l) => l.msg === 'request');

/** Sends raw bytes on a new socket and resolves with everything the server sent until it closed. */
function rawExchange(port: number, bytes: string, timeoutMs = 5_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('utf8'), closed: false });
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('utf8'), closed: true });
    });
    socket.write(bytes);
  });
}

/** A kept-alive connection that has been served once (so the server counts it as open). */
async function openKeptAlive(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('data', () => resolve());
    socket.write('GET /livez HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  });
  return socket;
}

describe('HTTP front: request logs and the connection cap', function () {
  describe('request logs', function () {
    let h: Harness;
    before(async () => {
      h = await startHarness({ http: { trustProxy: ['127.0.0.1'] } });
    });
    after(async () => h?.stop());

    it('When a management route is called, then its log line has the full path, the client address and no query string', async () => {
      await request(h.url).get('/api/fleet/agents?kuery=tags:s3cr3t-in-query').set('X-Forwarded-For', '203.0.113.7').expect(401);
      const line = await eventually(() => requestLines(h).find((l) => l['url.path'] === '/api/fleet/agents'));
      expect(line).to.include({ 'http.request.method': 'GET', 'http.response.status_code': 401, 'client.address': '203.0.113.7' });
      expect(h.logs.join('\n')).to.not.contain('s3cr3t-in-query');
      // Nothing is logged relative to the management router.
      expect(requestLines(h).some((l) => l['url.path'] === '/')).to.equal(false);
    });

    it('When a checkin is served on node:http, then it has the security headers of an Express route, the request id, and a log line with the forwarded client address', async () => {
      const checkin = await request(h.url)
        .post('/api/fleet/agents/lean-agent-1/checkin?token=s3cr3t-in-query')
        .set('User-Agent', 'Elastic Agent v8.15.0')
        .set('X-Request-Id', 'lean-req-1')
        .set('X-Forwarded-For', '198.51.100.1, 203.0.113.8')
        .send({ status: 'online' })
        .expect(401);
      const express = await request(h.url).get('/api/fleet/agent_policies').expect(401);
      const headerNames = precomputedSecurityHeaders().filter((_, i) => i % 2 === 0);
      expect(headerNames).to.include('Content-Security-Policy');
      for (const name of headerNames) expect(checkin.headers[name.toLowerCase()], name).to.equal(express.headers[name.toLowerCase()]);
      expect(checkin.headers['x-powered-by']).to.equal(undefined);
      expect(checkin.headers['x-request-id']).to.equal('lean-req-1');
      expect(checkin.headers['x-fleet-replica']).to.equal(express.headers['x-fleet-replica']);
      expect(checkin.headers['elastic-api-version']).to.equal('2023-06-01');
      expect(checkin.body).to.include({ statusCode: 401 });
      const line = await eventually(() => requestLines(h).find((l) => l['url.path'] === '/api/fleet/agents/lean-agent-1/checkin'));
      // The trusted proxy (the socket peer) is skipped; the next hop is not trusted and is the client.
      expect(line).to.include({ 'http.request.method': 'POST', 'http.response.status_code': 401, 'client.address': '203.0.113.8', 'http.request.id': 'lean-req-1' });
      expect(h.logs.join('\n')).to.not.contain('s3cr3t-in-query');
    });

    it('When the peer is not a trusted proxy, then its X-Forwarded-For is ignored and the socket address is logged', async () => {
      const other = await startHarness();
      try {
        await request(other.url).get('/api/fleet/agent_policies').set('X-Forwarded-For', '198.51.100.9').expect(401);
        const line = await eventually(() => requestLines(other).find((l) => l['url.path'] === '/api/fleet/agent_policies'));
        expect(String(line['client.address'])).to.match(/127\.0\.0\.1$/);
      } finally {
        await other.stop();
      }
    });
  });

  describe('connection cap', function () {
    let h: Harness;
    const open: Socket[] = [];
    before(async () => {
      h = await startHarness({ http: { maxConnections: 2 } });
    });
    after(async () => {
      for (const s of open) s.destroy();
      await h?.stop();
    });

    it('When the cap is reached, then a new connection gets 429 with Retry-After and Connection: close, a JSON body, and is closed', async () => {
      open.push(await openKeptAlive(h.server.port), await openKeptAlive(h.server.port));
      const { text, closed } = await rawExchange(h.server.port, 'GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(text.split('\r\n')[0]).to.equal('HTTP/1.1 429 Too Many Requests');
      expect(text).to.match(/\r\nRetry-After: 1\r\n/i);
      expect(text).to.match(/\r\nConnection: close\r\n/i);
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      expect(body).to.deep.equal({ statusCode: 429, error: 'TooManyRequests', message: 'too many open connections' });
      expect(closed).to.equal(true);

      // Once a connection closes, a new one is served again.
      open.pop()?.destroy();
      await eventually(async () => {
        const again = await rawExchange(h.server.port, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        return again.text.startsWith('HTTP/1.1 200');
      });
    });
  });

  describe('metrics listener', function () {
    it('When nothing is configured, then the metrics listener binds to loopback', () => {
      expect(loadConfig(allInOneSchema, { env: {} }).metrics.host).to.equal('127.0.0.1');
    });

    it('When the metrics listener is bound off loopback without a token, then the server refuses to start and says which setting to set', async () => {
      let err: unknown;
      await startHarness({ metrics: { host: '0.0.0.0' } }).then(
        (h) => h.stop(),
        (e: unknown) => (err = e),
      );
      expect(String(err)).to.match(/metrics\.host is 0\.0\.0\.0, not a loopback address: set FLEET_METRICS_TOKEN_FILE/);
    });

    it('When the metrics token is weak, then the server refuses to start', async () => {
      let err: unknown;
      await startHarness({ metrics: { host: '0.0.0.0', token: 'metrics' } }).then(
        (h) => h.stop(),
        (e: unknown) => (err = e),
      );
      expect(String(err)).to.match(/metrics token is too weak/);
      expect(String(err)).to.not.contain("'metrics'");
    });

    it('When a token is set, then a scrape without it or with another is 401, and with it 200', async () => {
      const h = await startHarness({ metrics: { host: '0.0.0.0', token: METRICS_TOKEN } });
      try {
        const url = h.server.metricsUrl ?? '';
        expect((await fetch(url)).status).to.equal(401);
        expect((await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } })).status).to.equal(401);
        const ok = await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
        expect(ok.status).to.equal(200);
        expect(await ok.text()).to.contain('fleet_http_requests_total');
      } finally {
        await h.stop();
      }
    });
  });
});
