import { FleetAgentClient } from '@fleet/agent-protocol';
import { loadConfig } from '@fleet/service-kit';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import request from 'supertest';
import { allInOneSchema } from '../src/index';
import { enrollAgent, eventually, localMetadata, startHarness, type Harness } from './support/fleet-server-harness';

const ack = (agent: FleetAgentClient, ids: string[]) =>
  agent.ack(ids.map((id) => ({ action_id: id, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' })));

async function readyAgent(h: Harness): Promise<FleetAgentClient> {
  const agent = await enrollAgent(h);
  const first = await agent.checkin({ status: 'online', message: '' });
  await ack(agent, (first.actions ?? []).map((a) => a.id));
  return agent;
}

describe('Agent protocol details', function () {
  let h: Harness;
  const clients: FleetAgentClient[] = [];

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    for (const c of clients) c.close();
    await h.stop();
  });

  it('When a host retries enrollment with the same enrollment_id before checking in, then the ghost agent is removed', async () => {
    const body = { type: 'PERMANENT' as const, enrollment_id: 'host-42-attempt', metadata: { local: localMetadata() } };
    const first = h.agent();
    await first.enroll(h.enrollmentToken, body);
    const second = h.agent();
    await second.enroll(h.enrollmentToken, body);
    clients.push(first, second);
    expect(second.agentId).to.not.equal(first.agentId);
    expect(await h.server.store.agents.get(first.agentId!)).to.equal(undefined);
    const ghostKey = Buffer.from(first.accessApiKey!, 'base64').toString().split(':')[0]!;
    // Revocation is a background job: it lands moments after the response.
    await eventually(async () => (await h.server.store.credentials.get(ghostKey))?.invalidated);
    // Once the agent has checked in, a retry with the same enrollment_id keeps it.
    await second.checkin({ status: 'online', message: '' });
    await h.server.gateway.statusWrites.flush();
    const third = h.agent();
    await third.enroll(h.enrollmentToken, body);
    clients.push(third);
    expect(await h.server.store.agents.get(second.agentId!)).to.not.equal(undefined);
  });

  it('When actions of types agents must not get are stored, then only allowed types are delivered', async () => {
    const agent = await readyAgent(h);
    clients.push(agent);
    const expiration = new Date(Date.now() + 60_000).toISOString();
    const now = new Date().toISOString();
    for (const type of ['UPDATE_TAGS', 'FORCE_UNENROLL', 'POLICY_CHANGE', 'SETTINGS']) {
      await h.server.store.actions.create({ action_id: `a-${type}`, '@timestamp': now, expiration, type, agents: [agent.agentId!], data: { log_level: 'info' } });
    }
    await h.server.store.actions.create({ action_id: 'expired', '@timestamp': now, expiration: new Date(Date.now() - 1000).toISOString(), type: 'SETTINGS', agents: [agent.agentId!] });
    await h.server.store.actions.create({ action_id: 'no-expiration', '@timestamp': now, type: 'SETTINGS', agents: [agent.agentId!] });
    await h.server.store.actions.create({ action_id: 'someone-else', '@timestamp': now, expiration, type: 'SETTINGS', agents: ['other-agent'] });
    const res = await agent.checkin({ status: 'online', message: '' });
    expect(res.actions?.map((a) => a.id)).to.deep.equal(['a-SETTINGS']);
  });

  it('When an action has start_time and rollout_duration_seconds, then each agent gets its staggered start', async () => {
    const a = await readyAgent(h);
    const b = await readyAgent(h);
    clients.push(a, b);
    const start = new Date(Date.now() + 3_600_000);
    await h.server.store.actions.create({
      action_id: 'staged-upgrade',
      '@timestamp': new Date().toISOString(),
      expiration: new Date(Date.now() + 7_200_000).toISOString(),
      start_time: start.toISOString(),
      rollout_duration_seconds: 600,
      type: 'UPGRADE',
      agents: [a.agentId!, b.agentId!],
      data: { version: '9.1.2', extra: 'dropped' },
    });
    const [ra, rb] = await Promise.all([a.checkin({ status: 'online', message: '' }), b.checkin({ status: 'online', message: '' })]);
    expect(ra.actions?.[0]?.start_time).to.equal(start.toISOString());
    expect(rb.actions?.[0]?.start_time).to.equal(new Date(start.getTime() + 300_000).toISOString());
    expect(rb.actions?.[0]?.data).to.deep.equal({ version: '9.1.2' });
  });

  it('When the response is large and the agent accepts gzip, then it is gzipped', async () => {
    const agent = await enrollAgent(h);
    clients.push(agent);
    const inputs = Array.from({ length: 50 }, (_, i) => ({ id: `input-${i}`, type: 'logfile', streams: [{ paths: [`/var/log/app-${i}.log`] }] }));
    await request(h.url).put('/api/fleet/agent_policies/fleet-default-policy').set(h.admin).send({ inputs }).expect(200);
    const res = await agent.checkin({ status: 'online', message: '' });
    expect(agent.lastResponseHeaders['content-encoding']).to.equal('gzip');
    expect(res.actions?.[0]?.type).to.equal('POLICY_CHANGE');
    const plain = new FleetAgentClient({ url: h.url, acceptGzip: false });
    plain.agentId = agent.agentId;
    plain.accessApiKey = agent.accessApiKey;
    clients.push(plain);
    await plain.checkin({ status: 'online', message: '' });
    expect(plain.lastResponseHeaders['content-encoding']).to.equal(undefined);
  });

  it('When the agent reports an audit unenroll, then it is recorded, a second orphaned report conflicts, and a checkin clears it', async () => {
    const agent = await readyAgent(h);
    clients.push(agent);
    await agent.auditUnenroll({ reason: 'orphaned', timestamp: new Date().toISOString() });
    const doc = await h.server.store.agents.get(agent.agentId!);
    expect(doc?._source.audit_unenrolled_reason).to.equal('orphaned');
    const again = await agent.auditUnenroll({ reason: 'uninstall', timestamp: new Date().toISOString() }).catch((e: { status: number }) => e);
    expect(again).to.include({ status: 409 });
    await agent.checkin({ status: 'online', message: '', poll_timeout: '2m1s' });
    await h.server.gateway.statusWrites.flush();
    expect((await h.server.store.agents.get(agent.agentId!))?._source.audit_unenrolled_reason).to.equal(null);
  });

  it('When upgrade details are reported and later dropped, then the upgrade is recorded as finished', async () => {
    const agent = await readyAgent(h);
    clients.push(agent);
    const details = { target_version: '9.1.2', action_id: 'up-1', state: 'UPG_DOWNLOADING', metadata: { download_percent: 40 } };
    await agent.checkin({ status: 'online', message: '', upgrade_details: details, poll_timeout: '2m1s' });
    expect((await h.server.store.agents.get(agent.agentId!))?._source.upgrade_details).to.deep.equal(details);
    await agent.checkin({ status: 'online', message: '', poll_timeout: '2m1s' });
    const doc = await h.server.store.agents.get(agent.agentId!);
    expect(doc?._source.upgrade_details).to.equal(null);
    expect(doc?._source.upgraded_at).to.be.a('string');
  });

  it('When an upgrade fails after retries, then its metadata keeps the keys Kibana reads, retry fields included, and drops others', async () => {
    const agent = await readyAgent(h);
    clients.push(agent);
    const retry = { retry_error_msg: 'download failed: 404', retry_until: '2026-11-29T22:08:53.897466849Z' };
    const details = { target_version: '9.1.2', action_id: 'up-2', state: 'UPG_FAILED', metadata: { failed_state: 'UPG_DOWNLOADING', error_msg: 'no space', ...retry, noise: 1 } };
    await agent.checkin({ status: 'online', message: '', upgrade_details: details, poll_timeout: '2m1s' });
    const doc = await h.server.store.agents.get(agent.agentId!);
    expect(doc?._source.upgrade_details?.metadata).to.deep.equal({ failed_state: 'UPG_DOWNLOADING', error_msg: 'no space', ...retry });
  });

  it('When the agent reports a revision newer than the latest known, then it is sent the latest policy', async () => {
    const agent = await readyAgent(h);
    clients.push(agent);
    const latest = await h.server.store.policies.latest('fleet-default-policy');
    const res = await agent.checkin({ status: 'online', message: '', agent_policy_id: 'fleet-default-policy', policy_revision_idx: 999 });
    expect(res.actions?.[0]?.id).to.equal(`policy:fleet-default-policy:${latest?._source.revision_idx}`);
  });

  it('When all of this ran, then no secret appears in the logs', () => {
    const text = h.logs.join('\n');
    expect(text).to.contain('http.request.id');
    for (const secret of [h.enrollmentToken, h.server.adminToken, ...clients.map((c) => c.accessApiKey!)]) {
      expect(text.includes(secret), 'a secret was logged').to.equal(false);
    }
  });
});

describe('Configuration', function () {
  it('When a value has the wrong format, then loading fails naming the key', () => {
    expect(() => loadConfig(allInOneSchema, { env: { FLEET_HTTP_PORT: 'eighty' } })).to.throw(/http\.port/);
    expect(() => loadConfig(allInOneSchema, { env: { FLEET_PBKDF2_ITERATIONS: '10' } })).to.throw(/iterations/);
    expect(() => loadConfig(allInOneSchema, { env: {}, overrides: { http: { colour: 1 } } })).to.throw(/colour/);
  });

  it('When the process starts with an invalid config, then it exits 1 with a clear message', function () {
    this.timeout(30_000);
    const main = resolve(__dirname, '../src/main.ts');
    const run = spawnSync(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', main], {
      env: { ...process.env, FLEET_LOG_LEVEL: 'loud' },
      encoding: 'utf8',
      timeout: 25_000,
    });
    expect(run.status).to.equal(1);
    expect(run.stdout + run.stderr).to.contain('log.level');
  });

  it('When the admin token comes from a file, then the file is used', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(resolve(tmpdir(), 'fleet-admin-'));
    const token = 'f1le-7okEn_9cQ2xZ4vB8nM3kL6jH1gF5dS0aP';
    writeFileSync(`${dir}/token`, `${token}\n`, { mode: 0o600 });
    const h = await startHarness({ admin: { tokenFile: `${dir}/token` } });
    try {
      expect(h.server.adminToken).to.equal(token);
      await request(h.url).get('/api/fleet/agent_policies').set('Authorization', `Bearer ${token}`).expect(200);
    } finally {
      await h.stop();
    }
  });
});

describe('Policy revision bookkeeping', function () {
  let h: Harness;
  before(async () => {
    h = await startHarness({ statusWrites: { flushIntervalMs: 60_000 } });
  });
  after(async () => h.stop());

  it('When a checkin reported an older revision before the ack, then the batched status write does not undo the ack', async () => {
    const agent = await enrollAgent(h);
    const first = await agent.checkin({ status: 'online', message: '', agent_policy_id: 'fleet-default-policy', policy_revision_idx: 0 });
    await ack(agent, (first.actions ?? []).map((a) => a.id));
    expect((await h.server.store.agents.get(agent.agentId!))?._source.policy_revision_idx).to.equal(1);
    await h.server.gateway.statusWrites.flush();
    const doc = await h.server.store.agents.get(agent.agentId!);
    expect(doc?._source.policy_revision_idx, 'the ack survives the flush').to.equal(1);
    expect(doc?._source.agent_policy_id).to.equal('fleet-default-policy');
    agent.close();
  });
});
