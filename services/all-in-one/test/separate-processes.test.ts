import { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureConsoleBuilt } from './support/console-browser';
import { eventually, localMetadata } from './support/fleet-server-harness';

type Service = 'enrollment' | 'checkin-gateway' | 'policy-dispatcher';

describe('The three services as separate processes on one embedded store, told of changes over Redis', function () {
  this.timeout(90_000);
  const children: ChildProcess[] = [];
  const base = 19_000 + Math.floor(Math.random() * 900);
  const port = { enrollment: base, 'checkin-gateway': base + 1, 'policy-dispatcher': base + 2 };
  const url = (s: Service) => `http://127.0.0.1:${port[s]}`;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'fleet-split-'));
    const env = {
      ...process.env,
      FLEET_SQLITE_PATH: join(dataDir, 'fleet.db'),
      FLEET_HTTP_HOST: '127.0.0.1',
      FLEET_METRICS_HOST: '127.0.0.1',
      FLEET_METRICS_PORT: '0',
      FLEET_LOG_LEVEL: 'warn',
      FLEET_CHECKIN_LONG_POLL_MS: '20000',
      FLEET_CHECKIN_JITTER_MS: '0',
      // The feed poll is slowed down so that only the Redis notification can explain a fast delivery.
      FLEET_FEED_POLL_INTERVAL_MS: '30000',
      FLEET_BUS_BACKEND: 'redis',
      FLEET_REDIS_URL: process.env.FLEET_TEST_REDIS_URL ?? '',
      FLEET_BUS_CHANNEL: `test-split-${process.pid}`,
      FLEET_PBKDF2_ITERATIONS: '1000',
      // Plain HTTP between the test and each replica: TLS has its own tests.
      FLEET_TLS_MODE: 'off',
      FLEET_PUBLIC_URLS: url('checkin-gateway'),
    };
    // The dispatcher first: it creates the schema, the default policy and the enrollment key.
    for (const service of ['policy-dispatcher', 'enrollment', 'checkin-gateway'] as const) {
      const main = resolve(__dirname, `../../${service}/src/main.ts`);
      const child = spawn(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', main], {
        env: { ...env, FLEET_HTTP_PORT: String(port[service]) },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
      await eventually(async () => (await fetch(`${url(service)}/nothing`).catch(() => undefined))?.status === 404, 30_000, 200);
    }
  });
  after(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null) return r();
            c.once('exit', () => r());
            c.kill('SIGTERM');
          }),
      ),
    );
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('When an agent enrolls on one, checks in on another and the policy changes on the third, then the open poll is answered within a second', async () => {
    const token = readFileSync(join(dataDir, 'enrollment-token'), 'utf8').trim();
    const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const enroller = new FleetAgentClient({ url: url('enrollment') });
    await enroller.enroll(token, { type: 'PERMANENT', metadata: { local: localMetadata() } });
    const agent = new FleetAgentClient({ url: url('checkin-gateway') });
    agent.agentId = enroller.agentId;
    agent.accessApiKey = enroller.accessApiKey;
    const first = await agent.checkin({ status: 'online', message: '' });
    expect(first.actions?.[0]?.id).to.equal('policy:fleet-default-policy:1');
    await agent.ack([{ action_id: 'policy:fleet-default-policy:1', agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' }]);

    const poll = agent.checkin({ status: 'online', message: '' });
    await new Promise((r) => setTimeout(r, 300));
    const updated = await fetch(`${url('policy-dispatcher')}/api/fleet/agent_policies/fleet-default-policy`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ description: 'changed from another process' }),
    });
    expect(updated.status).to.equal(200);
    const wrote = Date.now();
    const res = await poll;
    expect(res.actions?.[0]?.id).to.equal('policy:fleet-default-policy:2');
    expect(Date.now() - wrote, 'delivered through the Redis notification').to.be.lessThan(1000);
    enroller.close();
    agent.close();
  });

  it('When a browser asks for the console, then the dispatcher serves it under its CSP, and the agent-facing services do not', async () => {
    await ensureConsoleBuilt();
    const page = await fetch(`${url('policy-dispatcher')}/app/fleet/agents`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-security-policy')).to.match(/script-src 'self'; style-src 'self' 'nonce-/);
    expect(await page.text()).to.include('<div id="root">');
    for (const service of ['enrollment', 'checkin-gateway'] as const) {
      expect((await fetch(`${url(service)}/app/fleet/`)).status, service).to.equal(404);
    }
  });
});
