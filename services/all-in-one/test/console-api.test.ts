import type { FleetAgentClient } from '@fleet/agent-protocol';
import type { ActionDoc, AgentDoc } from '@fleet/store';
import { expect } from 'chai';
import request from 'supertest';
import { redisUrl } from '../../../libs/notifications/test/support/redis-server';
import { ackAll, eventually, localMetadata, sleep, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

type Body = Record<string, unknown>;
const idsOf = (body: Body): string[] => (body.items as { id: string }[]).map((a) => a.id);

/** A 400 in Kibana's error shape, naming `what`. */
function expectBadRequest(res: { status: number; body: Body }, what: RegExp): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(400);
  expect(res.body).to.include({ statusCode: 400, error: 'Bad Request' });
  expect(res.body.message).to.match(what);
}

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) describe(`Console management API (${backend} store)`, function () {
  this.timeout(60_000);
  let h: Harness;
  let reader: { Authorization: string };
  let operator: { Authorization: string };
  const agents: Partial<Record<'d', FleetAgentClient>> & Record<'a' | 'b' | 'c', FleetAgentClient> = {} as never;
  let otherPolicy = '';

  const enroll = async (hostname: string, tags: string[]): Promise<FleetAgentClient> => {
    const agent = h.agent();
    await agent.enroll(h.enrollmentToken, { type: 'PERMANENT', metadata: { local: localMetadata(hostname), user_provided: {}, tags } });
    return agent;
  };
  const get = (path: string, query: Record<string, string | number> = {}, auth = h.admin) => request(h.url).get(`/api/fleet${path}`).query(query).set(auth);
  const post = (path: string, body: object, auth = h.admin) => request(h.url).post(`/api/fleet${path}`).set(auth).send(body);
  const doc = async (id: string): Promise<AgentDoc> => (await h.server.store.agents.get(id))?._source as AgentDoc;
  const actionOf = async (actionId: string): Promise<ActionDoc | undefined> => (await h.server.store.actions.findByActionId(actionId))?._source;
  /** The audit record of a call that wrote this action (written once the call is answered). */
  type AuditItem = { action_type?: string; target?: { action_id?: string; agent_count?: number } };
  const auditOf = (actionId: string): Promise<AuditItem> =>
    eventually(async () => {
      const audit = await get('/audit_log', { perPage: 100 }).expect(200);
      return (audit.body.items as AuditItem[]).find((r) => r.target?.action_id === actionId);
    });
  const key = async (role: string) => {
    const res = await post('/management_api_keys', { name: `console-${role}`, role }).expect(200);
    return { Authorization: `Bearer ${(res.body as { item: { api_key: string } }).item.api_key}` };
  };

  before(async function () {
    h = await startHarness({}, undefined, backend);
    reader = await key('read-only');
    operator = await key('operator');
    otherPolicy = ((await post('/agent_policies', { name: `console other ${backend}`, namespace: 'default' }).expect(200)).body as { item: { id: string } }).item.id;
    agents.a = await enroll('charlie', ['blue']);
    agents.b = await enroll('alpha', ['red']);
    agents.c = await enroll('bravo', []);
    for (const agent of [agents.a, agents.b]) await ackAll(agent, await agent.checkin({ status: 'online', message: '' }));
    await h.server.gateway.statusWrites.flush();
  });
  after(async () => {
    for (const a of Object.values(agents)) a?.close();
    await h.stop();
  });

  it('When agents are listed with sortField and sortOrder, then the server sorts them; an unknown field is a 400', async () => {
    const { a, b, c } = { a: agents.a.agentId, b: agents.b.agentId, c: agents.c.agentId };
    const asc = await get('/agents', { sortField: 'local_metadata.host.hostname', sortOrder: 'asc' }).expect(200);
    expect(idsOf(asc.body)).to.deep.equal([b, c, a]);
    expect(asc.body).to.include({ total: 3, page: 1, perPage: 20 });
    const desc = await get('/agents', { sortField: 'local_metadata.host.hostname', sortOrder: 'desc', perPage: 2, page: 1 }).expect(200);
    expect(idsOf(desc.body)).to.deep.equal([a, c]);
    // Kibana's UI names the keyword field with a .keyword suffix.
    expect(idsOf((await get('/agents', { sortField: 'local_metadata.host.hostname.keyword', sortOrder: 'asc' }).expect(200)).body)).to.deep.equal([b, c, a]);
    // Never checked in: last on last_checkin, whatever the order.
    const byCheckin = await get('/agents', { sortField: 'last_checkin', sortOrder: 'asc' }).expect(200);
    expect(idsOf(byCheckin.body)[2]).to.equal(c);
    const byDefault = await get('/agents').expect(200);
    const enrolledDesc = await get('/agents', { sortField: 'enrolled_at', sortOrder: 'desc' }).expect(200);
    expect(idsOf(byDefault.body)).to.deep.equal(idsOf(enrolledDesc.body));
    const online = await get('/agents', { kuery: 'status:online', sortField: 'local_metadata.host.hostname', sortOrder: 'desc' }).expect(200);
    expect(idsOf(online.body)).to.deep.equal([a, b]);
    expectBadRequest(await get('/agents', { sortField: 'user_provided_metadata' }), /sortField/);
    expectBadRequest(await get('/agents', { sortOrder: 'sideways' }), /sortOrder/);
  });

  it('When agent statuses are counted, then GET /agent_status answers Kibana\'s summary from the store, per policy', async () => {
    const all = await get('/agent_status').expect(200);
    expect(all.body.results).to.include({ online: 2, enrolling: 1, offline: 0, error: 0, updating: 0, inactive: 0, unenrolled: 0, other: 1, events: 0, all: 3, active: 3, total: 3 });
    const other = await get('/agent_status', { policyId: otherPolicy }).expect(200);
    expect(other.body.results).to.include({ all: 0, online: 0 });
    await get('/agent_status', {}, reader).expect(200);
    expectBadRequest(await get('/agent_status', { nonsense: 1 }), /nonsense/);
  });

  it('When the sampling job runs, then GET /agent_status/history answers its samples, bounded by hours', async () => {
    await h.server.dispatcher.jobHandlers['sample-agent-status']({});
    await h.server.dispatcher.jobHandlers['sample-agent-status']({});
    const res = await get('/agent_status/history', { hours: 1 }).expect(200);
    const items = res.body.items as Array<Record<string, unknown>>;
    expect(items.length).to.be.at.least(2);
    expect(items.at(-1)).to.include({ online: 2, enrolling: 1, offline: 0 });
    expect(Date.parse(String(items.at(-1)?.timestamp))).to.be.closeTo(Date.now(), 60_000);
    expect(res.body.interval_ms).to.equal(60_000);
    expectBadRequest(await get('/agent_status/history', { hours: 25 }), /hours/);
    expectBadRequest(await get('/agent_status/history', { hours: 0 }), /hours/);
  });

  it('When tags are listed and one agent\'s tags are replaced with PUT /agents/:id, then the distinct tags follow', async () => {
    expect((await get('/agents/tags').expect(200)).body).to.deep.equal({ items: ['blue', 'red'] });
    const put = await request(h.url).put(`/api/fleet/agents/${agents.c.agentId}`).set(operator).send({ tags: ['green', 'blue'] }).expect(200);
    expect(put.body.item).to.include({ id: agents.c.agentId, status: 'enrolling' });
    expect(put.body.item.tags).to.deep.equal(['green', 'blue']);
    expect((await get('/agents/tags').expect(200)).body.items).to.deep.equal(['blue', 'green', 'red']);
    expect((await get('/agents/tags', { kuery: 'tags:red' }).expect(200)).body.items).to.deep.equal(['red']);
    await request(h.url).put(`/api/fleet/agents/${agents.c.agentId}`).set(reader).send({ tags: [] }).expect(403);
    await request(h.url).put('/api/fleet/agents/no-such-agent').set(h.admin).send({ tags: [] }).expect(404);
    expectBadRequest(await request(h.url).put(`/api/fleet/agents/${agents.c.agentId}`).set(h.admin).send({ tags: 'green' }), /tags/);
    expectBadRequest(await get('/agents/tags', { kuery: 'status:online' }), /status/);
  });

  it('When tags are added and removed in bulk, then one UPDATE_TAGS action covers the agents changed and unchanged ones are skipped', async () => {
    const res = await post('/agents/bulk_update_agent_tags', { agents: [agents.a.agentId, agents.b.agentId, agents.c.agentId], tagsToAdd: ['fleet'], tagsToRemove: ['red'] }, operator).expect(200);
    const action = await actionOf(res.body.actionId as string);
    expect(action).to.include({ type: 'UPDATE_TAGS' });
    expect([...(action?.agents ?? [])].sort()).to.deep.equal([agents.a.agentId, agents.b.agentId, agents.c.agentId].sort());
    expect((await doc(agents.a.agentId!)).tags).to.deep.equal(['blue', 'fleet']);
    expect((await doc(agents.b.agentId!)).tags).to.deep.equal(['fleet']);
    // By kuery; agents whose tags would not change are skipped and named.
    const again = await post('/agents/bulk_update_agent_tags', { agents: 'tags:fleet', tagsToAdd: ['blue'] }).expect(200);
    const byId = (list: { id?: string; reason: string }[]) => [...list].sort((x, y) => String(x.id).localeCompare(String(y.id)));
    expect(byId(again.body.skipped as { id: string; reason: string }[])).to.deep.equal(byId([{ id: agents.a.agentId, reason: 'already has these tags' }, { id: agents.c.agentId, reason: 'already has these tags' }]));
    expect((await doc(agents.b.agentId!)).tags).to.deep.equal(['fleet', 'blue']);
    expectBadRequest(await post('/agents/bulk_update_agent_tags', { agents: [agents.a.agentId] }), /tagsToAdd or tagsToRemove/);
    await post('/agents/bulk_update_agent_tags', { agents: [agents.a.agentId], tagsToAdd: ['x'] }, reader).expect(403);
  });

  it('When an upgrade is requested in bulk by kuery, then one UPGRADE action reaches every matching agent and each is updating', async () => {
    expectBadRequest(await post('/agents/bulk_upgrade', { agents: 'policy_id:fleet-default-policy', version: '10.0.0' }), /higher than the Fleet Server version/);
    expectBadRequest(await post('/agents/bulk_upgrade', { agents: [], version: '9.1.2' }), /agents/);
    await post('/agents/bulk_upgrade', { agents: 'policy_id:fleet-default-policy', version: '9.1.2' }, reader).expect(403);
    // An agent already on the version is skipped unless forced (as Kibana).
    expectBadRequest(await post('/agents/bulk_upgrade', { agents: [agents.c.agentId], version: '9.1.0' }), /is already on version 9.1.0/);
    await post('/agents/bulk_upgrade', { agents: [agents.c.agentId], version: '9.1.0', force: true }).expect(200);
    const res = await post('/agents/bulk_upgrade', { agents: 'policy_id:fleet-default-policy', version: '9.1.2' }, operator).expect(200);
    const action = await actionOf(res.body.actionId as string);
    expect(action).to.include({ type: 'UPGRADE' });
    expect(action?.agents).to.have.length(3);
    // The audit trail says how many agents the kuery reached.
    const record = await auditOf(res.body.actionId as string);
    expect(record).to.deep.include({ action_type: 'UPGRADE' });
    expect(record?.target?.agent_count).to.equal(3);
    for (const agent of Object.values(agents)) expect((await doc(agent.agentId!)).upgrade_started_at, agent.agentId).to.be.a('string');
    const checkin = await agents.a.checkin({ status: 'online', message: '' });
    expect(checkin.actions?.find((a) => a.type === 'UPGRADE')?.id).to.equal(res.body.actionId);
    await ackAll(agents.a, checkin);
    expect((await get('/agent_status').expect(200)).body.results.updating).to.equal(2);
  });

  it('When agents are reassigned in bulk, then missing and already-assigned agents are skipped and the others move under one action', async () => {
    const res = await post('/agents/bulk_reassign', { agents: [agents.a.agentId, agents.b.agentId, 'no-such-agent'], policy_id: otherPolicy }, operator).expect(200);
    expect(res.body.skipped).to.deep.equal([{ id: 'no-such-agent', reason: 'not found' }]);
    const action = await actionOf(res.body.actionId as string);
    expect(action).to.include({ type: 'POLICY_REASSIGN' });
    expect(action?.data).to.deep.equal({ policy_id: otherPolicy });
    expect((await doc(agents.a.agentId!)).policy_id).to.equal(otherPolicy);
    expect((await doc(agents.b.agentId!)).policy_id).to.equal(otherPolicy);
    expectBadRequest(await post('/agents/bulk_reassign', { agents: [agents.a.agentId], policy_id: otherPolicy }), /already assigned/);
    const missing = await post('/agents/bulk_reassign', { agents: [agents.a.agentId], policy_id: 'no-such-policy' });
    expect(missing.status).to.equal(404);
    expect((await get('/agent_status', { policyId: otherPolicy }).expect(200)).body.results.all).to.equal(2);
  });

  it('When an agent\'s action history is read, then its actions come newest first with what became of each, secrets redacted', async () => {
    const res = await get(`/agents/${agents.a.agentId}/action_history`, { perPage: 10 }).expect(200);
    const items = res.body.items as Array<{ type: string; status: string; action_id: string; created_at: string; acknowledged_at?: string; user_id?: string }>;
    expect(items.map((i) => i.type)).to.deep.equal(['POLICY_REASSIGN', 'UPGRADE', 'UPDATE_TAGS']);
    expect(items.map((i) => i.status)).to.deep.equal(['pending', 'acknowledged', 'acknowledged']);
    expect(items[1]?.acknowledged_at).to.be.a('string');
    expect(items[0]?.user_id).to.equal('console-operator');
    expect(res.body.total).to.equal(3);
    expect((await get(`/agents/${agents.a.agentId}/action_history`, { perPage: 1 }, reader).expect(200)).body.items).to.have.length(1);
    // A password an action carries is never shown back.
    await post(`/agents/${agents.b.agentId}/actions`, { action: { type: 'PRIVILEGE_LEVEL_CHANGE', data: { unprivileged: true, user_info: { username: 'svc', password: 'very-secret-password' } } } }).expect(200);
    const b = await get(`/agents/${agents.b.agentId}/action_history`).expect(200);
    expect(b.body.items[0]).to.include({ type: 'PRIVILEGE_LEVEL_CHANGE', status: 'pending' });
    expect(b.body.items[0].data).to.deep.equal({ unprivileged: true, user_info: { username: 'svc', password: '[redacted]' } });
    expect(JSON.stringify(b.body)).to.not.contain('very-secret-password');
    expectBadRequest(await get(`/agents/${agents.a.agentId}/action_history`, { perPage: 101 }), /perPage/);
    await get('/agents/no-such-agent/action_history').expect(404);
  });

  it('When agents are unenrolled in bulk, then revoke deactivates them at once and the plain call sends UNENROLL', async () => {
    await post('/agents/bulk_unenroll', { agents: [agents.c.agentId] }, reader).expect(403);
    const revoked = await post('/agents/bulk_unenroll', { agents: [agents.c.agentId], revoke: true }, operator).expect(200);
    expect(await actionOf(revoked.body.actionId as string)).to.include({ type: 'FORCE_UNENROLL' });
    expect(await doc(agents.c.agentId!)).to.include({ active: false, unenrolled_reason: 'manual' });
    const plain = await post('/agents/bulk_unenroll', { agents: [agents.b.agentId, agents.c.agentId] }).expect(200);
    expect(plain.body.skipped).to.deep.equal([{ id: agents.c.agentId, reason: 'is already unenrolled' }]);
    expect(await actionOf(plain.body.actionId as string)).to.include({ type: 'UNENROLL' });
    expect((await doc(agents.b.agentId!)).unenrollment_started_at).to.be.a('string');
    const status = (await get('/agent_status').expect(200)).body.results;
    // B is still upgrading, which the status shows before unenrolling (as Kibana's).
    expect(status).to.include({ unenrolled: 1, updating: 2, all: 3, active: 2 });
    expect((await auditOf(revoked.body.actionId as string)).action_type).to.equal('FORCE_UNENROLL');
  });

  it('When a policy\'s revisions are read, then they come newest first and each one\'s agent-facing data can be fetched', async () => {
    await request(h.url).put(`/api/fleet/agent_policies/${otherPolicy}`).set(h.admin).send({ description: 'two' }).expect(200);
    await request(h.url).put(`/api/fleet/agent_policies/${otherPolicy}`).set(h.admin).send({ description: 'three' }).expect(200);
    const list = await get(`/agent_policies/${otherPolicy}/revisions`, {}, reader).expect(200);
    expect((list.body.items as { revision_idx: number }[]).map((r) => r.revision_idx)).to.deep.equal([3, 2, 1]);
    expect(list.body).to.include({ total: 3, page: 1, perPage: 20 });
    expect(list.body.items[0]).to.have.keys(['revision_idx', 'created_at', 'coordinator_idx']);
    const paged = await get(`/agent_policies/${otherPolicy}/revisions`, { page: 2, perPage: 2 }).expect(200);
    expect((paged.body.items as { revision_idx: number }[]).map((r) => r.revision_idx)).to.deep.equal([1]);
    const one = await get(`/agent_policies/${otherPolicy}/revisions/2`).expect(200);
    expect(one.body.item).to.include({ revision_idx: 2 });
    expect(one.body.item.data).to.include({ id: otherPolicy, revision: 2 });
    await get(`/agent_policies/${otherPolicy}/revisions/99`).expect(404);
    await get('/agent_policies/no-such-policy/revisions').expect(404);
    expectBadRequest(await get(`/agent_policies/${otherPolicy}/revisions/two`), /revision/);
    expectBadRequest(await get(`/agent_policies/${otherPolicy}/revisions`, { perPage: 1000 }), /perPage/);
  });

  it('When a gateway reports its load, then GET /console/metrics sums the live replicas: checkins per second and open long polls', async () => {
    // Reports by hand only (the timer's would reset the count between checkin and report).
    h.server.gateway.load.close();
    await h.server.gateway.load.report();
    // One long poll held open (nothing new for the agent, once it has acked what it had), then a
    // report while it is open.
    const agent = await enroll('delta', []);
    agents.d = agent;
    let held: Promise<unknown> | undefined;
    for (let attempt = 0; attempt < 5 && !held; attempt++) {
      const poll = agent.checkin({ status: 'online', message: '' });
      const answered = await Promise.race([poll, sleep(1500).then(() => undefined)]);
      if (answered) await ackAll(agent, answered);
      else if (h.server.gateway.registry.size === 1) held = poll;
      else await ackAll(agent, await poll);
    }
    expect(held, 'a long poll held open').to.not.equal(undefined);
    await h.server.gateway.load.report();
    const res = await get('/console/metrics', {}, reader).expect(200);
    expect(res.body.open_long_polls).to.equal(1);
    expect(res.body.checkins_per_second).to.be.greaterThan(0);
    expect(res.body.replicas).to.have.length(1);
    expect(res.body.replicas[0]).to.include({ open_long_polls: 1 });
    expect(Date.parse(res.body.sampled_at as string)).to.be.closeTo(Date.now(), 10_000);
    h.server.gateway.registry.wakeAll('shutdown');
    await held?.catch(() => undefined);
    await request(h.url).get('/api/fleet/console/metrics').expect(401);
  });
});

describe('Console metrics across replicas (Redis bus)', function () {
  this.timeout(90_000);
  // Two replicas of one deployment: their gateways and dispatchers meet on one Redis. (Each keeps
  // its own embedded store here; what the console sums travels through Redis only.)
  const channel = `console-test:${Math.random().toString(36).slice(2)}`;
  const replica = (id: string) => startHarness({ server: { replicaId: id }, bus: { backend: 'redis', redisUrl: redisUrl(), channel } });
  let one: Harness;
  let two: Harness | undefined;
  let agent: FleetAgentClient | undefined;

  before(async () => {
    one = await replica('replica-1');
    two = await replica('replica-2');
  });
  after(async () => {
    agent?.close();
    await two?.stop();
    await one.stop();
  });

  it('When two gateways report, then either dispatcher sums both, and a stopped replica drops out once its report expires', async () => {
    const metrics = async (h: Harness) => (await request(h.url).get('/api/fleet/console/metrics').set(h.admin).expect(200)).body as { open_long_polls: number; replicas: { replica_id: string; open_long_polls: number }[] };
    const other = two as Harness;
    agent = other.agent();
    await agent.enroll(other.enrollmentToken, { type: 'PERMANENT', metadata: { local: localMetadata('replica-two-host'), user_provided: {}, tags: [] } });
    await ackAll(agent, await agent.checkin({ status: 'online', message: '' }));
    const held = agent.checkin({ status: 'online', message: '' }).catch(() => undefined);
    await eventually(() => other.server.gateway.registry.size === 1);
    await other.server.gateway.load.report();
    await one.server.gateway.load.report();
    const both = await metrics(one);
    expect(both.replicas.map((r) => r.replica_id).sort()).to.deep.equal(['replica-1', 'replica-2']);
    expect(both.open_long_polls).to.equal(1);
    expect(both.replicas.find((r) => r.replica_id === 'replica-2')?.open_long_polls).to.equal(1);
    expect((await metrics(other)).replicas).to.have.length(2);
    // The status history is shared the same way: sampled on one replica, read on the other.
    await other.server.gateway.statusWrites.flush();
    await other.server.dispatcher.jobHandlers['sample-agent-status']({});
    const history = await request(one.url).get('/api/fleet/agent_status/history').set(one.admin).expect(200);
    expect((history.body.items as { online: number }[]).some((s) => s.online === 1)).to.equal(true);

    await other.stop();
    two = undefined;
    await held;
    // Its last report lives for its TTL (15 s), then only replica-1 is left.
    const alone = await eventually(async () => {
      const m = await metrics(one);
      return m.replicas.length === 1 ? m : undefined;
    }, 25_000, 500);
    expect(alone.replicas.map((r) => r.replica_id)).to.deep.equal(['replica-1']);
    expect(alone.open_long_polls).to.equal(0);
  });
});
