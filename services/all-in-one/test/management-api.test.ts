import type { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import request from 'supertest';
import { enrollAgent, startHarness, type Harness } from './support/fleet-server-harness';

const ackAll = async (agent: FleetAgentClient, actions: { id: string }[] = []) =>
  agent.ack(actions.map((a) => ({ action_id: a.id, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' })));

describe('Management API (Kibana-compatible)', function () {
  let h: Harness;
  const agents: FleetAgentClient[] = [];

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    for (const a of agents) a.close();
    await h.stop();
  });

  it('When a policy is created, read, updated and fetched in full, then every change is a new revision document', async () => {
    const created = await request(h.url)
      .post('/api/fleet/agent_policies')
      .set(h.admin)
      .send({
        name: 'Linux servers',
        namespace: 'prod',
        outputs: { es: { type: 'elasticsearch', hosts: ['https://es.example:9200'], api_key: 'id:secret' } },
        output_permissions: { es: { _elastic_agent_checks: { cluster: ['monitor'] } } },
        agent: { logging: { level: 'info' } },
      })
      .expect(200);
    const policy = created.body.item;
    expect(policy).to.include({ name: 'Linux servers', namespace: 'prod', revision: 1, status: 'active', is_managed: false });

    const read = await request(h.url).get(`/api/fleet/agent_policies/${policy.id}`).set(h.admin).expect(200);
    expect(read.body.item.id).to.equal(policy.id);
    await request(h.url).put(`/api/fleet/agent_policies/${policy.id}`).set(h.admin).send({ inputs: [{ id: 'sys', type: 'system/metrics' }] }).expect(200);
    const full = await request(h.url).get(`/api/fleet/agent_policies/${policy.id}/full`).set(h.admin).expect(200);
    expect(full.body.item).to.include({ id: policy.id, revision: 2 });
    expect(full.body.item.outputs.es.hosts).to.deep.equal(['https://es.example:9200']);
    expect(full.body.item.inputs).to.deep.equal([{ id: 'sys', type: 'system/metrics' }]);
    expect(full.body.item.agent.logging).to.deep.equal({ level: 'info' });
    expect(full.body.item.fleet.hosts).to.be.an('array');

    const revisions = await h.server.store.policies.changesSince(-1, 100);
    expect(revisions.filter((r) => r._source.policy_id === policy.id).map((r) => r._source.revision_idx)).to.deep.equal([1, 2]);
    const list = await request(h.url).get('/api/fleet/agent_policies').query({ perPage: 1, page: 2 }).set(h.admin).expect(200);
    expect(list.body).to.include({ total: 2, page: 2, perPage: 1 });
    expect(list.body.items).to.have.length(1);
  });

  it('When a revision document outlived a failed update, then the next update goes past it instead of conflicting forever', async () => {
    const created = await request(h.url).post('/api/fleet/agent_policies').set(h.admin).send({ name: 'orphan revision', namespace: 'default' }).expect(200);
    const id = (created.body as { item: { id: string } }).item.id;
    // What a timed-out update leaves: revision 2 written to .fleet-policies, the record still at 1.
    const first = await h.server.store.policies.latest(id);
    expect(first?._source.revision_idx).to.equal(1);
    await h.server.store.policies.create({ ...(first?._source ?? ({} as never)), revision_idx: 2, '@timestamp': new Date().toISOString() });
    const updated = await request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).send({ description: 'after the orphan' });
    expect(updated.status, JSON.stringify(updated.body)).to.equal(200);
    expect((updated.body as { item: { revision: number } }).item.revision).to.equal(3);
    expect((await h.server.store.policies.latest(id))?._source.revision_idx).to.equal(3);
    const read = await request(h.url).get(`/api/fleet/agent_policies/${id}`).set(h.admin).expect(200);
    expect((read.body as { item: { revision: number; description: string } }).item).to.include({ revision: 3, description: 'after the orphan' });
  });

  it('When agents are listed, then filters by policy, status and tags and paging work', async () => {
    const online = await enrollAgent(h, {}, ['blue']);
    const first = await online.checkin({ status: 'online', message: '' });
    await ackAll(online, first.actions);
    const silent = await enrollAgent(h, {}, ['red']);
    agents.push(online, silent);
    await h.server.gateway.statusWrites.flush();

    const byStatus = await request(h.url).get('/api/fleet/agents').query({ kuery: 'status:online' }).set(h.admin).expect(200);
    expect(byStatus.body.items.map((a: { id: string }) => a.id)).to.deep.equal([online.agentId]);
    const enrolling = await request(h.url).get('/api/fleet/agents').query({ kuery: 'fleet-agents.status : (enrolling or offline)' }).set(h.admin).expect(200);
    expect(enrolling.body.items.map((a: { id: string }) => a.id)).to.deep.equal([silent.agentId]);
    const byPolicy = await request(h.url).get('/api/fleet/agents').query({ kuery: 'policy_id:"fleet-default-policy" and tags:red' }).set(h.admin).expect(200);
    expect(byPolicy.body.items.map((a: { id: string }) => a.id)).to.deep.equal([silent.agentId]);
    const paged = await request(h.url).get('/api/fleet/agents').query({ perPage: 1 }).set(h.admin).expect(200);
    expect(paged.body).to.include({ total: 2, perPage: 1, page: 1 });
    expect(paged.body.items).to.have.length(1);
  });

  it('When an agent is reassigned, then it gets POLICY_REASSIGN and the new policy on its next checkin', async () => {
    const agent = agents[0]!;
    const policies = await request(h.url).get('/api/fleet/agent_policies').set(h.admin).expect(200);
    const target = policies.body.items.find((p: { name: string }) => p.name === 'Linux servers');
    await request(h.url).post(`/api/fleet/agents/${agent.agentId}/reassign`).set(h.admin).send({ policy_id: target.id }).expect(200);
    const again = await request(h.url).post(`/api/fleet/agents/${agent.agentId}/reassign`).set(h.admin).send({ policy_id: target.id });
    expect(again.status).to.equal(400);
    const res = await agent.checkin({ status: 'online', message: '', agent_policy_id: 'fleet-default-policy', policy_revision_idx: 1 });
    const types = res.actions?.map((a) => a.type);
    expect(types).to.include('POLICY_CHANGE').and.include('POLICY_REASSIGN');
    expect(res.actions?.find((a) => a.type === 'POLICY_CHANGE')?.id).to.equal(`policy:${target.id}:2`);
    expect(res.actions?.find((a) => a.type === 'POLICY_REASSIGN')?.data).to.deep.equal({ policy_id: target.id });
    await ackAll(agent, res.actions);
    const doc = await h.server.store.agents.get(agent.agentId!);
    expect(doc?._source).to.include({ policy_id: target.id, policy_revision_idx: 2 });
  });

  it('When an upgrade is requested, then the agent gets UPGRADE and its status is updating until it reports done', async () => {
    const agent = agents[0]!;
    const tooNew = await request(h.url).post(`/api/fleet/agents/${agent.agentId}/upgrade`).set(h.admin).send({ version: '10.0.0' });
    expect(tooNew.status).to.equal(400);
    await request(h.url).post(`/api/fleet/agents/${agent.agentId}/upgrade`).set(h.admin).send({ version: '9.1.2' }).expect(200);
    const res = await agent.checkin({ status: 'online', message: '' });
    const upgrade = res.actions?.find((a) => a.type === 'UPGRADE');
    expect(upgrade?.data).to.deep.equal({ version: '9.1.2' });
    const view = await request(h.url).get(`/api/fleet/agents/${agent.agentId}`).set(h.admin).expect(200);
    expect(view.body.item.status).to.equal('updating');
    // The agent acks as soon as it has the action, still running 9.1.0: not done yet.
    await ackAll(agent, res.actions);
    let doc = await h.server.store.agents.get(agent.agentId!);
    expect(doc?._source.upgraded_at ?? null).to.equal(null);
    expect((await request(h.url).get(`/api/fleet/agents/${agent.agentId}`).set(h.admin).expect(200)).body.item.status).to.equal('updating');
    // The upgraded binary acks from 9.1.2: done.
    const upgraded = h.agent({ agentVersion: '9.1.2' });
    upgraded.agentId = agent.agentId;
    upgraded.accessApiKey = agent.accessApiKey;
    await ackAll(upgraded, res.actions);
    upgraded.close();
    doc = await h.server.store.agents.get(agent.agentId!);
    expect(doc?._source.upgraded_at).to.be.a('string');
    expect(doc?._source.upgrade_started_at).to.equal(null);
  });

  it('When an agent is force-unenrolled (revoke), then it is deactivated at once and its open poll ends with 401', async () => {
    const agent = agents[1]!;
    const first = await agent.checkin({ status: 'online', message: '' });
    await ackAll(agent, first.actions);
    const poll = agent.checkin({ status: 'online', message: '' }).catch((e: { status: number }) => e);
    await new Promise((r) => setTimeout(r, 200));
    await request(h.url).post(`/api/fleet/agents/${agent.agentId}/unenroll`).set(h.admin).send({ revoke: true }).expect(200);
    expect(await poll).to.include({ status: 401 });
    const listed = await request(h.url).get('/api/fleet/agents').query({ showInactive: 'true', kuery: 'status:unenrolled' }).set(h.admin).expect(200);
    expect(listed.body.items.map((a: { id: string }) => a.id)).to.include(agent.agentId);
  });

  it('When a policy still has agents, then it cannot be deleted; an empty one can', async () => {
    const refused = await request(h.url).delete('/api/fleet/agent_policies/fleet-default-policy').set(h.admin);
    expect(refused.status).to.equal(400);
    const created = await request(h.url).post('/api/fleet/agent_policies').set(h.admin).send({ name: 'Empty' }).expect(200);
    const deleted = await request(h.url).delete(`/api/fleet/agent_policies/${created.body.item.id}`).set(h.admin).expect(200);
    expect(deleted.body).to.deep.equal({ id: created.body.item.id, name: 'Empty' });
    await request(h.url).get(`/api/fleet/agent_policies/${created.body.item.id}`).set(h.admin).expect(404);
  });

  it("When a Kibana client sends its own Elastic-Api-Version, then the management API accepts it", async () => {
    await request(h.url).get('/api/fleet/agents').set(h.admin).set('Elastic-Api-Version', '2023-10-31').expect(200);
  });

  it('When expired actions are older than the retention, then the garbage-collection job deletes them and keeps the rest', async () => {
    const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
    const recent = new Date(Date.now() - 86_400_000).toISOString();
    const a = await h.server.store.actions.create({ action_id: 'old', '@timestamp': old, expiration: old, type: 'SETTINGS', agents: ['x'] });
    const b = await h.server.store.actions.create({ action_id: 'recent', '@timestamp': recent, expiration: recent, type: 'SETTINGS', agents: ['x'] });
    expect(await h.server.dispatcher.jobHandlers['gc-expired-actions']({})).to.deep.equal({ deleted: 1 });
    expect(await h.server.store.actions.get(a._id)).to.equal(undefined);
    expect(await h.server.store.actions.get(b._id)).to.not.equal(undefined);
  });

  it('When enrollment keys are created and listed, then the token is shown once and never again', async () => {
    const created = await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: 'fleet-default-policy', name: 'ci' }).expect(200);
    expect(created.body.action).to.equal('created');
    expect(created.body.item.api_key).to.be.a('string');
    const got = await request(h.url).get(`/api/fleet/enrollment_api_keys/${created.body.item.id}`).set(h.admin).expect(200);
    expect(got.body.item).to.not.have.property('api_key');
    expect(got.body.item.name).to.match(/^ci \(/);
    const missingPolicy = await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: 'nope' });
    expect(missingPolicy.status).to.equal(404);
  });
});
