import { FleetAgentClient } from '@fleet/agent-protocol';
import { secretPlaceholder, SqliteFleetStore } from '@fleet/store';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { reservePort } from '../../../deploy/topology/local-topology';
import { eventually, localMetadata, sleep } from './support/fleet-server-harness';
import { OtlpReceiver } from './support/otlp-receiver';

const MAIN = resolve(__dirname, '../src/main.ts');
const PRELOAD = resolve(__dirname, '../src/instrumentation.ts');

interface Started {
  child: ChildProcess;
  url: string;
  dataDir: string;
  output: () => string;
}

/** The all-in-one server as operators run it: a process with the tracing preload. */
async function startWithPreload(env: Record<string, string>): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fleet-tracing-'));
  const port = await reservePort();
  const child = spawn(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', '--import', PRELOAD, MAIN], {
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLEET_') && !k.startsWith('OTEL_'))),
      FLEET_SQLITE_PATH: join(dataDir, 'fleet.db'),
      FLEET_HTTP_HOST: '127.0.0.1',
      FLEET_HTTP_PORT: String(port),
      FLEET_TLS_MODE: 'off',
      FLEET_METRICS_PORT: '0',
      FLEET_PBKDF2_ITERATIONS: '1000',
      FLEET_CHECKIN_LONG_POLL_MS: '1000',
      FLEET_CHECKIN_JITTER_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => child.exitCode === null && (await fetch(`${url}/api/status`).catch(() => undefined))?.status === 200, 30_000, 200);
  return { child, url, dataDir, output: () => out };
}

const stop = (s: Started): Promise<number | null> =>
  new Promise((r) => {
    if (s.child.exitCode !== null) return r(s.child.exitCode);
    s.child.once('exit', (code) => r(code));
    s.child.kill('SIGTERM');
  });

async function enrollAndCheckIn(s: Started): Promise<void> {
  const agent = new FleetAgentClient({ url: s.url });
  await agent.enroll(readFileSync(join(s.dataDir, 'enrollment-token'), 'utf8').trim(), { type: 'PERMANENT', metadata: { local: localMetadata() } });
  const res = await agent.checkin({ status: 'online', message: '' });
  expect(res.actions?.[0]?.type).to.equal('POLICY_CHANGE');
  agent.close();
}

describe('Tracing preload (the process operators run)', function () {
  this.timeout(90_000);

  it('When tracing is on, then the spans reach the collector with the service name, version and replica', async () => {
    const otlp = await OtlpReceiver.start();
    const s = await startWithPreload({
      FLEET_TRACING_ENABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      FLEET_REPLICA_ID: 'traced-1',
    });
    try {
      await enrollAndCheckIn(s);
      const enroll = await eventually(() => otlp.spans.find((x) => x.name.startsWith('POST') && String(x.attributes['url.path']).endsWith('/enroll')), 10_000, 100);
      expect(enroll).to.include({ service: 'fleet-server', instance: 'traced-1' });
      // Probes are not traced: they would drown everything else.
      await fetch(`${s.url}/readyz`);
      expect(await stop(s)).to.equal(0);
      // The shutdown flushed what was left: nothing of a probe, everything of the checkin.
      expect(otlp.spans.some((x) => String(x.attributes['url.path']).endsWith('/readyz'))).to.equal(false);
      expect(otlp.spans.some((x) => String(x.attributes['url.path']).endsWith('/checkin'))).to.equal(true);
      // Served on node:http, not Express: still named by its route pattern, never the raw path.
      expect(otlp.spans.some((x) => x.name === 'POST /api/fleet/agents/:id/checkin' && x.attributes['http.route'] === '/api/fleet/agents/:id/checkin')).to.equal(true);
    } finally {
      await stop(s);
      await otlp.close();
      rmSync(s.dataDir, { recursive: true, force: true });
    }
  });

  it('When a policy names a secret, then the agent gets its value and no exported span (HTTP, Express, the server\'s own) nor output line holds it', async () => {
    const otlp = await OtlpReceiver.start();
    const s = await startWithPreload({ FLEET_TRACING_ENABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', FLEET_LOG_LEVEL: 'debug' });
    const canary = `canary-${randomBytes(8).toString('hex')}`;
    try {
      // Written beside the running server, in its file, with its key (the store is shared by processes).
      const store = new SqliteFleetStore({ path: join(s.dataDir, 'fleet.db') });
      const id = await store.secrets.create(canary);
      await store.close();
      const admin = { Authorization: `Bearer ${readFileSync(join(s.dataDir, 'admin-token'), 'utf8').trim()}`, 'Content-Type': 'application/json' };
      const put = await fetch(`${s.url}/api/fleet/agent_policies/fleet-default-policy`, {
        method: 'PUT',
        headers: admin,
        body: JSON.stringify({ inputs: [{ id: 'in-1', type: 'httpjson', streams: [{ id: 's1', password: secretPlaceholder(id) }] }] }),
      });
      expect(put.status).to.equal(200);
      const full = await (await fetch(`${s.url}/api/fleet/agent_policies/fleet-default-policy/full`, { headers: admin })).text();
      expect(full).to.include(secretPlaceholder(id)).and.not.include(canary);
      const agent = new FleetAgentClient({ url: s.url });
      await agent.enroll(readFileSync(join(s.dataDir, 'enrollment-token'), 'utf8').trim(), { type: 'PERMANENT', metadata: { local: localMetadata() } });
      const res = await eventually(async () => {
        const r = await agent.checkin({ status: 'online', message: '', poll_timeout: '1s' });
        const policy = r.actions?.find((a) => a.type === 'POLICY_CHANGE')?.data as { policy?: { inputs?: { streams?: { password?: string }[] }[]; secret_paths?: string[] } } | undefined;
        return policy?.policy?.inputs?.[0]?.streams?.[0]?.password === canary ? policy.policy : undefined;
      }, 10_000, 200);
      expect(res.secret_paths).to.deep.equal(['inputs.0.streams.0.password']);
      agent.close();
      expect(await stop(s)).to.equal(0);
      expect(otlp.spans.some((x) => x.name === 'POST /api/fleet/agents/:id/checkin')).to.equal(true);
      expect(otlp.spans.some((x) => String(x.attributes['http.route']).includes('agent_policies'))).to.equal(true);
      expect(otlp.spans.filter((x) => JSON.stringify(x).includes(canary))).to.deep.equal([]);
      expect(s.output()).to.include('"level":30');
      expect(s.output()).to.not.include(canary);
    } finally {
      await stop(s);
      await otlp.close();
      rmSync(s.dataDir, { recursive: true, force: true });
    }
  });

  it('When the collector is unreachable, then agents are served as before, the failure is logged, and the process still stops cleanly', async () => {
    const dead = await reservePort(); // nothing listens there
    const s = await startWithPreload({
      FLEET_TRACING_ENABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${dead}`,
      FLEET_TRACING_EXPORT_TIMEOUT_MS: '1000',
    });
    try {
      await enrollAndCheckIn(s);
      await sleep(2_500); // a few export attempts (every second)
      expect((await fetch(`${s.url}/api/status`)).status).to.equal(200);
      await enrollAndCheckIn(s);
      expect(await stop(s)).to.equal(0);
      expect(s.output()).to.include('tracing on');
      expect(s.output()).to.match(/"level":50[^\n]*opentelemetry/);
    } finally {
      await stop(s);
      rmSync(s.dataDir, { recursive: true, force: true });
    }
  });

  it('When tracing is off (the default), then tracing does not start and nothing is sent', async () => {
    const otlp = await OtlpReceiver.start();
    const s = await startWithPreload({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    try {
      await enrollAndCheckIn(s);
      expect(await stop(s)).to.equal(0);
      expect(otlp.requests).to.equal(0);
      expect(s.output()).to.not.include('tracing on');
    } finally {
      await stop(s);
      await otlp.close();
      rmSync(s.dataDir, { recursive: true, force: true });
    }
  });
});
