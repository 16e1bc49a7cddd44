import { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import request from 'supertest';
import { enrollAgent, eventually, startHarness, type Harness } from './support/fleet-server-harness';

const POLICY = 'fleet-default-policy';
const monitoringRole = (index: string) => ({
  monitoring: { indices: [{ names: [index], privileges: ['auto_configure', 'create_doc'] }] },
});

/** Asks Elasticsearch who a key is and what it may do (as the key itself). */
async function keyPrivileges(apiKey: string, index: string): Promise<{ username: string; canWrite: boolean }> {
  const url = process.env.FLEET_ES_URL ?? '';
  const auth = { authorization: `ApiKey ${Buffer.from(apiKey).toString('base64')}`, 'content-type': 'application/json' };
  const who = (await (await fetch(`${url}/_security/_authenticate`, { headers: auth })).json()) as { username: string };
  const res = await fetch(`${url}/_security/user/_has_privileges`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ index: [{ names: [index], privileges: ['create_doc'] }] }),
  });
  const body = (await res.json()) as { has_all_requested: boolean };
  return { username: who.username, canWrite: body.has_all_requested };
}

describe('Per-agent output API keys (Elasticsearch security on)', function () {
  let h: Harness;
  let agent: FleetAgentClient;

  before(async () => {
    h = await startHarness({}, undefined, 'elasticsearch');
  });
  after(async () => {
    agent?.close();
    await h.stop();
  });

  const outputKey = (res: Awaited<ReturnType<FleetAgentClient['checkin']>>): string => {
    const change = res.actions?.find((a) => a.type === 'POLICY_CHANGE');
    const data = change?.data as { policy: { outputs: Record<string, { api_key?: string }> } };
    return data.policy.outputs.default?.api_key ?? '';
  };

  it("When the agent gets its policy, then each elasticsearch output carries the agent's own key with the output's permissions", async () => {
    await request(h.url)
      .put(`/api/fleet/agent_policies/${POLICY}`)
      .set(h.admin)
      .send({ outputs: { default: { type: 'elasticsearch', hosts: [process.env.FLEET_ES_URL] } }, output_permissions: { default: monitoringRole('logs-a-default') } })
      .expect(200);
    agent = await enrollAgent(h);
    const res = await agent.checkin({ status: 'online', message: '' });
    const key = outputKey(res);
    expect(key).to.match(/^[^:]+:[^:]+$/);
    expect(await keyPrivileges(key, 'logs-a-default')).to.deep.equal({ username: 'elastic/fleet-server', canWrite: true });
    expect((await keyPrivileges(key, 'logs-b-default')).canWrite).to.equal(false);
    const doc = await h.server.store.agents.get(agent.agentId!);
    expect(doc?._source.outputs?.default).to.include({ api_key: key, type: 'elasticsearch' });
    expect(doc?._source.outputs?.default?.permissions_hash).to.match(/^[0-9a-f]{64}$/);
    await agent.ack([{ action_id: res.actions![0]!.id, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' }]);

    // Delivered again (same permissions): the same key, no new one.
    const view = await request(h.url).get(`/api/fleet/agents/${agent.agentId}`).set(h.admin).expect(200);
    expect(view.body.item.outputs.default).to.not.have.property('api_key');
  });

  it('When the output permissions change, then the same key gets the new privileges', async () => {
    const before = await h.server.store.agents.get(agent.agentId!);
    await request(h.url).put(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).send({ output_permissions: { default: monitoringRole('logs-b-default') } }).expect(200);
    const res = await agent.checkin({ status: 'online', message: '' });
    const key = outputKey(res);
    expect(key).to.equal(before?._source.outputs?.default?.api_key);
    expect((await keyPrivileges(key, 'logs-b-default')).canWrite).to.equal(true);
    const after = await h.server.store.agents.get(agent.agentId!);
    expect(after?._source.outputs?.default?.permissions_hash).to.not.equal(before?._source.outputs?.default?.permissions_hash);
    await agent.ack([{ action_id: res.actions![0]!.id, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' }]);
  });

  it('When the output is replaced by another, then the new output gets a key and the old key is revoked after the ack', async () => {
    const before = await h.server.store.agents.get(agent.agentId!);
    const oldKeyId = before!._source.outputs!.default!.api_key_id!;
    await request(h.url)
      .put(`/api/fleet/agent_policies/${POLICY}`)
      .set(h.admin)
      .send({ outputs: { other: { type: 'elasticsearch', hosts: [process.env.FLEET_ES_URL] } }, output_permissions: { other: monitoringRole('logs-c-default') } })
      .expect(200);
    const res = await agent.checkin({ status: 'online', message: '' });
    const data = res.actions?.find((a) => a.type === 'POLICY_CHANGE')?.data as { policy: { outputs: Record<string, { api_key?: string }> } };
    expect(Object.keys(data.policy.outputs)).to.deep.equal(['other']);
    expect((await h.server.store.credentials.get(oldKeyId))?.invalidated, 'not revoked before the ack').to.equal(false);
    await agent.ack([{ action_id: res.actions![0]!.id, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' }]);
    await eventually(async () => (await h.server.store.credentials.get(oldKeyId))?.invalidated);
    expect((await keyPrivileges(data.policy.outputs.other!.api_key!, 'logs-c-default')).canWrite).to.equal(true);
  });

  it('When the agent is force-unenrolled, then its output keys are revoked with its access key', async () => {
    const doc = await h.server.store.agents.get(agent.agentId!);
    const outputKeyId = doc!._source.outputs!.other!.api_key_id!;
    await request(h.url).post(`/api/fleet/agents/${agent.agentId}/unenroll`).set(h.admin).send({ revoke: true }).expect(200);
    await eventually(async () => (await h.server.store.credentials.get(outputKeyId))?.invalidated);
  });

  it('When two checkins of a new agent race for its first key, then both get the same key and no other key stays valid', async () => {
    const first = await enrollAgent(h);
    const twin = new FleetAgentClient({ url: h.url });
    twin.agentId = first.agentId;
    twin.accessApiKey = first.accessApiKey;
    const [a, b] = await Promise.all([first.checkin({ status: 'online', message: '' }), twin.checkin({ status: 'online', message: '' })]);
    const keyOf = (res: typeof a) => (res.actions?.[0]?.data as { policy: { outputs: Record<string, { api_key?: string }> } }).policy.outputs.other?.api_key;
    expect(keyOf(a)).to.be.a('string');
    expect(keyOf(a)).to.equal(keyOf(b));
    const doc = await h.server.store.agents.get(first.agentId!);
    expect(doc?._source.outputs?.other?.api_key).to.equal(keyOf(a));
    first.close();
    twin.close();
  });
});
