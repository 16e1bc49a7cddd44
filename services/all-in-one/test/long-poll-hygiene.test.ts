import { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { enrollAgent, eventually, localMetadata, startHarness, type Harness } from './support/fleet-server-harness';

const POLICY = 'fleet-default-policy';

describe('Long-poll hygiene', function () {
  describe('in process', function () {
    let h: Harness;
    before(async () => {
      // A request timeout far shorter than the long poll: it must bound receiving requests only.
      h = await startHarness({ http: { requestTimeoutMs: 1000, headersTimeoutMs: 1000, listenBacklog: 1234 } });
    });
    after(async () => h.stop());

    it('When a long poll outlasts requestTimeout, then it still completes with 200', async () => {
      const agent = await enrollAgent(h);
      await agent.checkin({ status: 'online', message: '' });
      await agent.ack([{ action_id: `policy:${POLICY}:1`, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' }]);
      const started = Date.now();
      const res = await agent.checkin({ status: 'online', message: '' });
      expect(Date.now() - started).to.be.greaterThan(2500);
      expect(res.action).to.equal('checkin');
      agent.close();
    });

    it('When the server listens, then the kernel queues up to listenBacklog connections (Node alone queues 511)', function () {
      // For a listening socket, ss reports the accept queue's capacity as Send-Q.
      const port = new URL(h.url).port;
      const line = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim();
      expect(line.split(/\s+/)[2]).to.equal('1234');
    });

    it('When a request is not received within headersTimeout, then the answer is 408 (not 400) and the connection closes', async function () {
      // Node checks for timed-out requests every 30 s (connectionsCheckingInterval).
      this.timeout(45_000);
      const { port } = new URL(h.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.write('POST /api/fleet/agents/a/checkin HTTP/1.1\r\nHost: x\r\n'));
        let data = '';
        socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
        socket.once('close', () => resolve(data));
        socket.once('error', reject);
      });
      expect(answer.split('\r\n')[0]).to.equal('HTTP/1.1 408 Request Timeout');
    });

    it('When one agent has two concurrent checkins, then both are answered and both see the new policy', async () => {
      const agent = await enrollAgent(h);
      const first = await agent.checkin({ status: 'online', message: '' });
      const rev = Number(first.actions?.[0]?.id.split(':')[2]);
      await agent.ack([{ action_id: `policy:${POLICY}:${rev}`, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' }]);
      const second = new FleetAgentClient({ url: h.url });
      second.agentId = agent.agentId;
      second.accessApiKey = agent.accessApiKey;
      const polls = [agent.checkin({ status: 'online', message: 'a' }), second.checkin({ status: 'online', message: 'b' })];
      await eventually(() => h.server.gateway.registry.size >= 2);
      await request(h.url).put(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).send({ description: `rev after ${rev}` }).expect(200);
      const answers = await Promise.all(polls);
      for (const a of answers) expect(a.actions?.[0]?.id).to.equal(`policy:${POLICY}:${rev + 1}`);
      agent.close();
      second.close();
    });

    it('When the gateway drains, then open polls get 200 with their ack token and new checkins get 503', async () => {
      const agent = await enrollAgent(h);
      agent.ackToken = 'token-from-last-delivery';
      await agent.checkin({ status: 'online', message: '' }).then((r) =>
        agent.ack((r.actions ?? []).map((x) => ({ action_id: x.id, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' }))),
      );
      const poll = agent.checkin({ status: 'online', message: '' });
      await eventually(() => h.server.gateway.registry.size > 0);
      const answered = h.server.gateway.drain();
      expect(answered).to.be.greaterThan(0);
      const res = await poll;
      expect(res).to.deep.equal({ ack_token: 'token-from-last-delivery', action: 'checkin' });
      const refused = await agent.checkin({ status: 'online', message: '' }).catch((e: { status: number }) => e);
      expect(refused).to.include({ status: 503 });
      const status = await request(h.url).get('/api/status');
      expect(status.status).to.equal(503);
      expect(status.body).to.deep.equal({ name: 'fleet-server', status: 'STOPPING' });
      agent.close();
    });
  });

  describe('as a real process', function () {
    this.timeout(60_000);
    let child: ChildProcess | undefined;
    let dataDir: string;
    const port = 18_000 + Math.floor(Math.random() * 2000);
    const url = `http://127.0.0.1:${port}`;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'fleet-proc-'));
      const main = resolve(__dirname, '../src/main.ts');
      child = spawn(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', main], {
        env: {
          ...process.env,
          FLEET_SQLITE_PATH: join(dataDir, 'fleet.db'),
          FLEET_HTTP_PORT: String(port),
          FLEET_HTTP_HOST: '127.0.0.1',
          FLEET_TLS_MODE: 'off',
          FLEET_METRICS_HOST: '127.0.0.1',
          FLEET_METRICS_PORT: '0',
          FLEET_LOG_LEVEL: 'warn',
          FLEET_CHECKIN_LONG_POLL_MS: '60000',
          FLEET_CHECKIN_JITTER_MS: '0',
          FLEET_PBKDF2_ITERATIONS: '1000',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      await eventually(async () => (await fetch(`${url}/api/status`)).status === 200, 30_000, 200);
    });
    after(() => {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('When SIGTERM arrives with polls open, then each is answered 200 at once and the process exits 0', async () => {
      const token = readFileSync(join(dataDir, 'enrollment-token'), 'utf8').trim();
      const agents: FleetAgentClient[] = [];
      for (let i = 0; i < 5; i++) {
        const a = new FleetAgentClient({ url });
        await a.enroll(token, { type: 'PERMANENT', metadata: { local: localMetadata(`host-${i}`) } });
        const first = await a.checkin({ status: 'online', message: '' });
        await a.ack((first.actions ?? []).map((x) => ({ action_id: x.id, agent_id: a.agentId, timestamp: new Date().toISOString(), message: 'ok' })));
        a.ackToken = `ack-${i}`;
        agents.push(a);
      }
      const polls = agents.map((a) => a.checkin({ status: 'online', message: '' }));
      await new Promise((r) => setTimeout(r, 500));
      const exited = new Promise<number | null>((r) => child?.once('exit', (code) => r(code)));
      const signalled = Date.now();
      child?.kill('SIGTERM');
      const answers = await Promise.all(polls);
      expect(Date.now() - signalled, 'answered long before the 60 s poll').to.be.lessThan(5000);
      answers.forEach((res, i) => expect(res).to.deep.equal({ ack_token: `ack-${i}`, action: 'checkin' }));
      // Each answer ends its keep-alive connection, so the process need not wait out the drain
      // timeout (10 s) for the agents' idle sockets: it exits as soon as the answers are out.
      for (const a of agents) expect(a.lastResponseHeaders.connection).to.equal('close');
      expect(await exited).to.equal(0);
      expect(Date.now() - signalled, 'exited without waiting for the drain timeout').to.be.lessThan(5000);
      for (const a of agents) a.close();
    });
  });
});
