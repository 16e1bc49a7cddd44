import type { FleetAgentClient } from '@fleet/agent-protocol';
import type { AuditRecord } from '@fleet/store';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { enrollAgent, eventually, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

type Key = { id: string; name: string; role: string; api_key?: string; created_by: string; revoked_at?: string };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function createKey(h: Harness, name: string, role: string): Promise<Key> {
  const res = await request(h.url).post('/api/fleet/management_api_keys').set(h.admin).send({ name, role });
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return (res.body as { item: Key }).item;
}

async function auditLog(h: Harness, perPage = 100): Promise<AuditRecord[]> {
  const res = await request(h.url).get('/api/fleet/audit_log').query({ perPage }).set(h.admin).expect(200);
  return (res.body as { items: AuditRecord[] }).items;
}

describe('Bootstrap admin token strength', function () {
  for (const [what, token] of [
    ['one character', 'a'],
    ['long but one repeated character', 'a'.repeat(64)],
    ['long but a sequence', 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ'],
    ['a word repeated', 'changeme'.repeat(5)],
  ] as const) {
    it(`When FLEET_ADMIN_TOKEN is ${what}, then the server refuses to start and says why without echoing it`, async () => {
      let err: unknown;
      await startHarness({ admin: { token } }).then(
        (h) => h.stop(),
        (e: unknown) => (err = e),
      );
      expect(String(err)).to.match(/bootstrap admin token is too weak .*FLEET_ADMIN_TOKEN/);
      if (token.length > 1) expect(String(err)).to.not.contain(token);
    });
  }

  it('When the all-in-one process is started with FLEET_ADMIN_TOKEN=a, then it exits 1 with a fatal message naming the setting', function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'fleet-weak-admin-'));
    try {
      const run = spawnSync(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', resolve(__dirname, '../src/main.ts')], {
        env: { ...process.env, FLEET_ADMIN_TOKEN: 'a', FLEET_SQLITE_PATH: join(dir, 'fleet.db'), FLEET_HTTP_PORT: '0', FLEET_METRICS_PORT: '0', FLEET_STORE_BACKEND: 'sqlite' },
        encoding: 'utf8',
        timeout: 25_000,
      });
      expect(run.status).to.equal(1);
      const fatal = (run.stdout + run.stderr).split('\n').find((l) => l.includes('"level":"fatal"'));
      expect(fatal, run.stdout + run.stderr).to.match(/bootstrap admin token is too weak/);
      expect(fatal).to.contain('FLEET_ADMIN_TOKEN');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('When the token is long and random, then it is accepted', async () => {
    const h = await startHarness({ admin: { token: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' } });
    try {
      await request(h.url).get('/api/fleet/agent_policies').set(h.admin).expect(200);
    } finally {
      await h.stop();
    }
  });
});

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) describe(`Management API keys, roles and the audit trail (${backend} store)`, function () {
  let h: Harness;
  let agent: FleetAgentClient;
  let reader: Key;
  let operator: Key;
  let admin: Key;

  before(async function () {
    this.timeout(60_000);
    h = await startHarness({ http: { trustProxy: ['127.0.0.1'] } }, undefined, backend);
    agent = await enrollAgent(h);
    reader = await createKey(h, 'auditor', 'read-only');
    operator = await createKey(h, 'ops-bot', 'operator');
    admin = await createKey(h, 'platform-admin', 'admin');
  });
  after(async () => {
    agent?.close();
    await h?.stop();
  });

  it('When a key is created, then its token is shown in that answer only, and reads show neither token nor hash', async () => {
    expect(operator.api_key).to.match(/^fmk_[0-9a-f]{20}_[A-Za-z0-9_-]{43}$/);
    expect(operator).to.include({ name: 'ops-bot', role: 'operator', created_by: 'bootstrap' });
    const one = await request(h.url).get(`/api/fleet/management_api_keys/${operator.id}`).set(h.admin).expect(200);
    const list = await request(h.url).get('/api/fleet/management_api_keys').set(h.admin).expect(200);
    for (const text of [JSON.stringify(one.body), JSON.stringify(list.body)]) {
      expect(text).to.not.contain(operator.api_key);
      expect(text).to.not.contain('api_key"');
      expect(text).to.not.contain('sha256$');
    }
    expect((list.body as { items: Key[] }).items.map((k) => k.name)).to.include.members(['auditor', 'ops-bot', 'platform-admin']);
    const bad = await request(h.url).post('/api/fleet/management_api_keys').set(h.admin).send({ name: 'x', role: 'root' }).expect(400);
    expect(bad.body).to.include({ statusCode: 400, error: 'Bad Request' });
  });

  it('When each role calls the API, then read-only reads, operator acts on agents, and only admin changes policies, tokens and keys', async () => {
    const as = (k: Key) => bearer(k.api_key ?? '');
    const policy = 'fleet-default-policy';
    // read-only
    await request(h.url).get('/api/fleet/agents').set(as(reader)).expect(200);
    await request(h.url).get(`/api/fleet/agent_policies/${policy}`).set(as(reader)).expect(200);
    await request(h.url).get('/api/fleet/audit_log').set(as(reader)).expect(200);
    const denied = await request(h.url).post(`/api/fleet/agents/${agent.agentId}/actions`).set(as(reader)).send({ action: { type: 'SETTINGS', data: { log_level: 'debug' } } }).expect(403);
    expect(denied.body).to.include({ statusCode: 403, error: 'Forbidden' });
    await request(h.url).put(`/api/fleet/agent_policies/${policy}`).set(as(reader)).send({ description: 'x' }).expect(403);
    // operator
    await request(h.url).get('/api/fleet/agents').set(as(operator)).expect(200);
    await request(h.url).post(`/api/fleet/agents/${agent.agentId}/actions`).set(as(operator)).send({ action: { type: 'SETTINGS', data: { log_level: 'debug' } } }).expect(200);
    await request(h.url).post(`/api/fleet/agents/${agent.agentId}/upgrade`).set(as(operator)).send({ version: '9.1.2' }).expect(200);
    await request(h.url).post(`/api/fleet/agents/${agent.agentId}/request_diagnostics`).set(as(operator)).expect(200);
    await request(h.url).put(`/api/fleet/agent_policies/${policy}`).set(as(operator)).send({ description: 'x' }).expect(403);
    await request(h.url).post('/api/fleet/enrollment_api_keys').set(as(operator)).send({ policy_id: policy }).expect(403);
    await request(h.url).post('/api/fleet/management_api_keys').set(as(operator)).send({ name: 'escalate', role: 'admin' }).expect(403);
    await request(h.url).get('/api/fleet/audit_log').set(as(operator)).expect(403);
    // admin
    const updated = await request(h.url).put(`/api/fleet/agent_policies/${policy}`).set(as(admin)).send({ description: 'by a key' }).expect(200);
    expect((updated.body as { item: { updated_by: string } }).item.updated_by).to.equal('platform-admin');
    await request(h.url).post('/api/fleet/enrollment_api_keys').set(as(admin)).send({ policy_id: policy }).expect(200);
    const made = await request(h.url).post('/api/fleet/management_api_keys').set(as(admin)).send({ name: 'made-by-admin', role: 'read-only' }).expect(200);
    expect((made.body as { item: Key }).item.created_by).to.equal('platform-admin');
    // nobody
    await request(h.url).get('/api/fleet/agents').expect(401);
    await request(h.url).get('/api/fleet/agents').set(bearer(`${operator.api_key ?? ''}x`)).expect(401);
    await request(h.url).get('/api/fleet/agents').set(bearer(`fmk_${'0'.repeat(20)}_${'A'.repeat(43)}`)).expect(401);
  });

  it('When an operator key creates an action, then the action records the key name as its user', async () => {
    const res = await request(h.url).post(`/api/fleet/agents/${agent.agentId}/actions`).set(bearer(operator.api_key ?? '')).send({ action: { type: 'SETTINGS', data: { log_level: 'info' } } }).expect(200);
    const id = (res.body as { item: { id: string } }).item.id;
    expect((await h.server.store.actions.findByActionId(id))?._source.user_id).to.equal('ops-bot');
    const boot = await request(h.url).post(`/api/fleet/agents/${agent.agentId}/actions`).set(h.admin).send({ action: { type: 'SETTINGS', data: { log_level: 'info' } } }).expect(200);
    expect((await h.server.store.actions.findByActionId((boot.body as { item: { id: string } }).item.id))?._source.user_id).to.equal('bootstrap');
  });

  it('When a key is revoked, then its next call is 401, and it is listed as revoked by whom', async () => {
    const temp = await createKey(h, 'short-lived', 'operator');
    await request(h.url).get('/api/fleet/agents').set(bearer(temp.api_key ?? '')).expect(200);
    const revoked = await request(h.url).delete(`/api/fleet/management_api_keys/${temp.id}`).set(bearer(admin.api_key ?? '')).expect(200);
    expect((revoked.body as { item: Key & { revoked_by: string } }).item).to.include({ revoked_by: 'platform-admin' });
    await request(h.url).get('/api/fleet/agents').set(bearer(temp.api_key ?? '')).expect(401);
    await request(h.url).delete(`/api/fleet/management_api_keys/${'f'.repeat(20)}`).set(h.admin).expect(404);
  });

  it('When mutating calls are made, then each is in the audit trail, newest first, with who, what, from where and the outcome; reads and anonymous calls are not', async () => {
    // Records are written as each answer goes out: let the previous tests' land first.
    let before = -1;
    await eventually(async () => {
      const n = (await auditLog(h)).length;
      const settled = n === before;
      before = n;
      return settled;
    }, 10_000, 300);
    await request(h.url)
      .post(`/api/fleet/agents/${agent.agentId}/upgrade`)
      .set(bearer(operator.api_key ?? ''))
      .set('X-Forwarded-For', '198.51.100.23')
      .send({ version: '9.1.2' })
      .expect(200);
    await request(h.url).put('/api/fleet/agent_policies/fleet-default-policy').set(bearer(reader.api_key ?? '')).send({ description: 'no' }).expect(403);
    await request(h.url).post('/api/fleet/agent_policies').send({ name: 'anonymous' }).expect(401);
    await request(h.url).get('/api/fleet/agents').set(bearer(operator.api_key ?? '')).expect(200);

    const records = await eventually(async () => {
      const list = await auditLog(h);
      return list.length === before + 2 && list;
    }, 10_000);
    const [forbidden, upgrade] = records;
    expect(forbidden).to.deep.include({
      actor: { kind: 'management-key', id: reader.id, name: 'auditor', role: 'read-only' },
      target: { policy_id: 'fleet-default-policy' },
      outcome: { status_code: 403 },
    });
    expect(forbidden?.request).to.include({ method: 'PUT', route: '/api/fleet/agent_policies/:id' });
    expect(upgrade).to.deep.include({
      actor: { kind: 'management-key', id: operator.id, name: 'ops-bot', role: 'operator' },
      target: { agent_ids: [agent.agentId], agent_count: 1 },
      action_type: 'UPGRADE',
      client: { address: '198.51.100.23' },
      outcome: { status_code: 200 },
    });
    expect(upgrade?.request).to.include({ method: 'POST', route: '/api/fleet/agents/:id/upgrade' });
    expect(Date.parse(upgrade?.['@timestamp'] ?? '')).to.be.closeTo(Date.now(), 60_000);
    // Key creation and revocation are there too, by the bootstrap token and by the admin key.
    const all = await auditLog(h);
    expect(all.some((r) => r.request.route === '/api/fleet/management_api_keys' && r.actor.kind === 'bootstrap' && r.target.management_key_id === operator.id)).to.equal(true);
    expect(all.some((r) => r.request.method === 'DELETE' && r.actor.name === 'platform-admin' && r.outcome.status_code === 200)).to.equal(true);
    expect(all.some((r) => r.request.method === 'GET')).to.equal(false);
    // Paging, newest first.
    const page = await request(h.url).get('/api/fleet/audit_log').query({ page: 1, perPage: 1 }).set(bearer(reader.api_key ?? '')).expect(200);
    expect(page.body).to.include({ total: all.length, page: 1, perPage: 1 });
    expect((page.body as { items: AuditRecord[] }).items[0]?.id).to.equal(forbidden?.id);
  });

  it('When MIGRATE is sent with the default settings, then it is refused with a 400 naming the allow-list setting', async () => {
    const res = await request(h.url)
      .post(`/api/fleet/agents/${agent.agentId}/actions`)
      .set(bearer(operator.api_key ?? ''))
      .send({ action: { type: 'MIGRATE', data: { target_uri: 'https://fleet.attacker.example:8220', enrollment_token: 'x' } } })
      .expect(400);
    expect(res.body).to.include({ statusCode: 400, error: 'Bad Request' });
    expect((res.body as { message: string }).message).to.contain('FLEET_MIGRATE_TARGET_URI_ALLOW_LIST');
  });

  it('When an upgrade names a source_uri, then only the Elastic artifacts URL passes by default, compared as a parsed URL', async () => {
    const upgrade = (source_uri: string) =>
      request(h.url).post(`/api/fleet/agents/${agent.agentId}/upgrade`).set(bearer(operator.api_key ?? '')).send({ version: '9.1.2', source_uri });
    expect((await upgrade('https://artifacts.elastic.co/downloads/')).status).to.equal(200);
    for (const evil of [
      'https://artifacts.elastic.co.evil.com/downloads/',
      'https://artifacts.elastic.co@evil.com/downloads/',
      'http://artifacts.elastic.co/downloads/',
      'https://artifacts.elastic.co/downloads/../evil/',
      'https://artifacts.elastic.co/downloadsx/',
    ]) {
      const res = await upgrade(evil);
      expect(res.status, evil).to.equal(400);
      expect((res.body as { message: string }).message, evil).to.contain('FLEET_UPGRADE_SOURCE_URI_ALLOW_LIST');
    }
    // The generic action route is held to the same list.
    const viaActions = await request(h.url)
      .post(`/api/fleet/agents/${agent.agentId}/actions`)
      .set(bearer(operator.api_key ?? ''))
      .send({ action: { type: 'UPGRADE', data: { version: '9.1.2', source_uri: 'https://artifacts.elastic.co.evil.com/downloads/' } } });
    expect(viaActions.status).to.equal(400);
  });
});

describe('Action URI allow-lists, configured', function () {
  let h: Harness;
  let agent: FleetAgentClient;
  before(async () => {
    h = await startHarness({ actionUris: { migrateTarget: ['https://fleet.new.example:8220/'], upgradeSource: ['https://mirror.example/elastic/'] } });
    agent = await enrollAgent(h);
  });
  after(async () => {
    agent?.close();
    await h?.stop();
  });

  it('When MIGRATE targets an allowed Fleet Server, then it is sent; another host is refused', async () => {
    const migrate = (target_uri: string) =>
      request(h.url).post(`/api/fleet/agents/${agent.agentId}/actions`).set(h.admin).send({ action: { type: 'MIGRATE', data: { target_uri, enrollment_token: 'tok' } } });
    expect((await migrate('https://fleet.new.example:8220')).status).to.equal(200);
    expect((await migrate('https://fleet.new.example:8221')).status).to.equal(400);
    expect((await migrate('https://fleet.new.example.evil.com:8220')).status).to.equal(400);
    const missing = await request(h.url).post(`/api/fleet/agents/${agent.agentId}/actions`).set(h.admin).send({ action: { type: 'MIGRATE', data: {} } }).expect(400);
    expect((missing.body as { message: string }).message).to.contain('target_uri');
  });

  it('When the upgrade allow-list is replaced, then the mirror passes and the Elastic default no longer does', async () => {
    const upgrade = (source_uri: string) => request(h.url).post(`/api/fleet/agents/${agent.agentId}/upgrade`).set(h.admin).send({ version: '9.1.2', source_uri });
    expect((await upgrade('https://mirror.example/elastic/beats/')).status).to.equal(200);
    expect((await upgrade('https://artifacts.elastic.co/downloads/')).status).to.equal(400);
  });

  it('When an allow-list entry is not a URL, then the server refuses to start naming the setting', async () => {
    let err: unknown;
    await startHarness({ actionUris: { migrateTarget: ['fleet.new.example'] } }).then(
      (x) => x.stop(),
      (e: unknown) => (err = e),
    );
    expect(String(err)).to.contain('FLEET_MIGRATE_TARGET_URI_ALLOW_LIST');
  });
});
