import type { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import request from 'supertest';
import { enrollAgent, startHarness, type Harness } from './support/fleet-server-harness';

describe('Management API: agent kuery with and / or', function () {
  let h: Harness;
  let online: FleetAgentClient;
  let silent: FleetAgentClient;

  before(async () => {
    h = await startHarness();
    online = await enrollAgent(h, {}, ['blue']);
    const first = await online.checkin({ status: 'online', message: '' });
    await online.ack((first.actions ?? []).map((a) => ({ action_id: a.id, agent_id: online.agentId, timestamp: new Date().toISOString(), message: 'ok' })));
    silent = await enrollAgent(h, {}, ['red']);
    await h.server.gateway.statusWrites.flush();
  });
  after(async () => {
    online?.close();
    silent?.close();
    await h?.stop();
  });

  const ids = async (kuery: string): Promise<string[]> => {
    const res = await request(h.url).get('/api/fleet/agents').query({ kuery }).set(h.admin);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return (res.body as { items: { id: string }[] }).items.map((a) => a.id).sort();
  };

  it('When clauses are joined by a top-level or, then agents matching either are listed', async () => {
    const both = [online.agentId, silent.agentId].sort();
    expect(await ids('status:online or status:enrolling')).to.deep.equal(both);
    expect(await ids('tags:blue OR tags:red')).to.deep.equal(both);
    expect(await ids('(status:online or status:enrolling) and tags:red')).to.deep.equal([silent.agentId]);
    expect(await ids('policy_id:fleet-default-policy and tags:blue or policy_id:fleet-default-policy and tags:red')).to.deep.equal(both);
    expect(await ids('status:online and status:enrolling')).to.deep.equal([]);
  });

  it('When an or cannot be one filter, then the answer is a 400 that says so', async () => {
    const res = await request(h.url).get('/api/fleet/agents').query({ kuery: 'status:online or tags:red' }).set(h.admin).expect(400);
    expect(res.body).to.include({ statusCode: 400, error: 'Bad Request' });
    expect((res.body as { message: string }).message).to.match(/different fields/);
    const deep = await request(h.url).get('/api/fleet/agents').query({ kuery: `${'('.repeat(100)}status:online${')'.repeat(100)}` }).set(h.admin).expect(400);
    expect((deep.body as { message: string }).message).to.match(/nested too deeply/);
  });
});
