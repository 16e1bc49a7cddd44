import { FleetApiError, type CheckinResponse, type FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import request from 'supertest';
import { ackAll, enrollAgent, eventually, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

const POLICY = 'fleet-default-policy';

function policyChange(res: CheckinResponse) {
  return res.actions?.find((a) => a.type === 'POLICY_CHANGE');
}

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) describe(`Agent protocol end to end (all-in-one, ${backend} store)`, function () {
  let h: Harness;
  let agent: FleetAgentClient;

  before(async () => {
    h = await startHarness({}, undefined, backend);
  });
  after(async () => {
    agent?.close();
    await h.stop();
  });

  it('When an agent enrolls with the default enrollment token, then it gets an access key and an agent document', async () => {
    agent = await enrollAgent(h, {}, ['web', 'db', 'web']);
    expect(agent.agentId).to.be.a('string');
    const res = await request(h.url).get(`/api/fleet/agents/${agent.agentId}`).set(h.admin).expect(200);
    expect(res.body.item).to.include({ id: agent.agentId, active: true, policy_id: POLICY, status: 'enrolling' });
    expect(res.body.item.tags).to.deep.equal(['db', 'web']);
    expect(res.body.item).to.not.have.property('replace_token');
  });

  it('When it first checks in, then it gets POLICY_CHANGE for the latest revision at once', async () => {
    const started = Date.now();
    const res = await agent.checkin({ status: 'online', message: 'Running' });
    expect(Date.now() - started).to.be.lessThan(1000);
    const change = policyChange(res);
    expect(change?.id).to.equal(`policy:${POLICY}:1`);
    expect(change?.agent_id).to.equal(agent.agentId);
    const data = change?.data as { policy: { id: string; revision: number; outputs: object } };
    expect(data.policy).to.include({ id: POLICY, revision: 1 });
    expect(data.policy.outputs).to.have.property('default');
    expect(res.ack_token).to.equal('');
  });

  it('When it acks the policy, then policy_revision_idx advances and the next checkin long-polls', async () => {
    const ack = await agent.ack([
      { type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', agent_id: agent.agentId, action_id: `policy:${POLICY}:1`, message: 'ok', timestamp: new Date().toISOString() },
    ]);
    expect(ack.status).to.equal(200);
    expect(ack.body).to.deep.equal({ action: 'acks', items: [{ status: 200, message: 'OK' }] });
    const doc = await h.server.store.agents.get(agent.agentId!);
    expect(doc?._source.policy_revision_idx).to.equal(1);

    const started = Date.now();
    const idle = await agent.checkin({ status: 'online', message: 'Running' });
    expect(Date.now() - started).to.be.within(2500, 4500);
    expect(idle.actions ?? []).to.have.length(0);
  });

  it('When the policy is updated through the management API, then the open long poll is answered with the new revision', async () => {
    const poll = agent.checkin({ status: 'online', message: 'Running' });
    await eventually(() => h.server.gateway.registry.size > 0);
    const wrote = Date.now();
    await request(h.url)
      .put(`/api/fleet/agent_policies/${POLICY}`)
      .set(h.admin)
      .send({ description: 'updated', inputs: [{ id: 'logfile-1', type: 'logfile', streams: [] }] })
      .expect(200);
    const res = await poll;
    expect(Date.now() - wrote).to.be.lessThan(1000);
    const change = policyChange(res);
    expect(change?.id).to.equal(`policy:${POLICY}:2`);
    const data = change?.data as { policy: { inputs: { id: string }[] } };
    expect(data.policy.inputs[0]?.id).to.equal('logfile-1');
    const ack = await ackAll(agent, res);
    expect(ack.status).to.equal(200);
  });

  it('When an action is created for the agent, then it is delivered once and not again after the ack', async () => {
    const poll = agent.checkin({ status: 'online', message: 'Running' });
    await eventually(() => h.server.gateway.registry.size > 0);
    const created = await request(h.url)
      .post(`/api/fleet/agents/${agent.agentId}/actions`)
      .set(h.admin)
      .send({ action: { type: 'SETTINGS', data: { log_level: 'debug', unknown_key: 1 } } })
      .expect(200);
    const actionId = created.body.item.id as string;
    const res = await poll;
    expect(res.actions?.map((a) => a.id)).to.deep.equal([actionId]);
    expect(res.actions?.[0]?.data).to.deep.equal({ log_level: 'debug' });
    expect(res.ack_token).to.be.a('string').and.not.equal('');
    expect(agent.ackToken).to.equal(res.ack_token);

    const ack = await ackAll(agent, res);
    expect(ack.status).to.equal(200);
    const again = await ackAll(agent, res);
    expect(again.status, 'a repeated ack is idempotent').to.equal(200);
    const results = await h.server.store.actionResults.listByActionId(actionId);
    expect(results.map((r) => r._id)).to.deep.equal([`${actionId}:${agent.agentId}`]);

    const next = await agent.checkin({ status: 'online', message: 'Running' });
    expect(next.actions ?? [], 'not delivered twice').to.have.length(0);
  });

  it('When an ack names an unknown action, then that item is 404 so the agent retries', async () => {
    const ack = await agent.ack([
      { type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', agent_id: agent.agentId, action_id: 'no-such-action', message: 'ok', timestamp: new Date().toISOString() },
    ]);
    expect(ack.status).to.equal(404);
    expect(ack.body).to.deep.equal({ action: 'acks', errors: true, items: [{ status: 404, message: 'Not Found' }] });
  });

  it('When checkins report status, then they are written back in batches with components and metadata', async () => {
    await agent.checkin({
      status: 'degraded',
      message: 'an input failed',
      components: [{ id: 'log-default', type: 'log', status: 'DEGRADED', units: [{ id: 'u1', type: 'input', status: 'FAILED', message: 'x' }] }],
      poll_timeout: '2m1s',
    });
    const doc = await eventually(async () => {
      const d = await h.server.store.agents.get(agent.agentId!);
      return d?._source.last_checkin_status === 'degraded' ? d : undefined;
    });
    expect(doc._source.last_checkin_message).to.equal('an input failed');
    expect(doc._source.unhealthy_reason).to.deep.equal(['input']);
    expect(doc._source.components?.[0]?.id).to.equal('log-default');
    expect(doc._source.last_checkin).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(h.server.gateway.statusWrites.flushedBatches).to.be.greaterThan(0);
    const view = await request(h.url).get(`/api/fleet/agents/${agent.agentId}`).set(h.admin).expect(200);
    expect(view.body.item.status).to.equal('degraded');
  });

  it('When the agent is unenrolled and acks UNENROLL, then its key is revoked and checkins get 401', async () => {
    const poll = agent.checkin({ status: 'online', message: 'Running' });
    await eventually(() => h.server.gateway.registry.size > 0);
    await request(h.url).post(`/api/fleet/agents/${agent.agentId}/unenroll`).set(h.admin).send({}).expect(200);
    const res = await poll;
    const unenroll = res.actions?.find((a) => a.type === 'UNENROLL');
    expect(unenroll?.data).to.equal(null);
    expect((await ackAll(agent, res)).status).to.equal(200);

    const doc = await h.server.store.agents.get(agent.agentId!);
    expect(doc?._source.active).to.equal(false);
    expect(doc?._source.unenrolled_at).to.be.a('string');
    // Revocation is a background job: it lands moments after the ack.
    await eventually(async () => (await h.server.store.credentials.get(doc!._source.access_api_key_id))?.invalidated);
    const err = await agent.checkin({ status: 'online', message: 'Running' }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(FleetApiError);
    expect((err as FleetApiError).status).to.equal(401);
    const view = await request(h.url).get(`/api/fleet/agents/${agent.agentId}`).set(h.admin).expect(200);
    expect(view.body.item.status).to.equal('unenrolled');
  });

  it('When the server restarts, then an enrolled agent keeps checking in with the key it has and nothing is lost', async () => {
    const survivor = await enrollAgent(h);
    const first = await survivor.checkin({ status: 'online', message: 'Running' });
    await ackAll(survivor, first);
    const action = await request(h.url)
      .post(`/api/fleet/agents/${survivor.agentId}/actions`)
      .set(h.admin)
      .send({ action: { type: 'REQUEST_DIAGNOSTICS' } })
      .expect(200);
    await h.restart();
    const pendingAfterRestart = await survivor.checkin({ status: 'online', message: 'Running' });
    expect(pendingAfterRestart.actions?.map((a) => a.id)).to.deep.equal([action.body.item.id]);
    expect(pendingAfterRestart.actions?.[0]).to.not.have.property('data');
    expect((await ackAll(survivor, pendingAfterRestart)).status).to.equal(200);
    const policies = await request(h.url).get('/api/fleet/agent_policies').set(h.admin).expect(200);
    expect(policies.body.total).to.equal(1);
    expect(policies.body.items[0].revision).to.equal(2);
    const doc = await h.server.store.agents.get(survivor.agentId!);
    expect(doc?._source.policy_revision_idx).to.equal(2);
    survivor.close();
  });
});
