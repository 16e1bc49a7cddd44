import type { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { enrollAgent, startHarness, type Harness } from './support/fleet-server-harness';

const UA = 'Elastic Agent v9.1.0';
const POLICY = 'fleet-default-policy';

/**
 * Two replicas over one store that do not hear of each other's writes (no shared bus, feeds read
 * every 10 min): what a Redis partition does to a scaled-out fleet.
 */
describe('A replica that is behind never sends an agent an older policy than it runs', function () {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-two-replicas-'));
  const isolated = { feedPollIntervalMs: 600_000, dispatch: { feedPollIntervalMs: 600_000 } };
  let a: Harness;
  let b: Harness;
  let agent: FleetAgentClient;

  before(async () => {
    a = await startHarness(isolated, dir);
    b = await startHarness(isolated, dir);
    agent = await enrollAgent(a);
  });
  after(async () => {
    agent.close();
    await b.stop();
    await a.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const checkinOnB = (revision: number) =>
    request(b.url)
      .post(`/api/fleet/agents/${agent.agentId}/checkin`)
      .set('User-Agent', UA)
      .set('Authorization', `ApiKey ${agent.accessApiKey}`)
      .send({ status: 'online', message: '', agent_policy_id: POLICY, policy_revision_idx: revision, poll_timeout: '1s' });

  it('When the agent reports a revision replica B has not heard of, then B reads the store instead of sending its older one', async () => {
    const first = (await request(a.url).get(`/api/fleet/agent_policies/${POLICY}`).set(a.admin).expect(200)).body.item.revision as number;
    // B learns the current revision.
    const warm = await checkinOnB(first);
    expect(warm.status).to.equal(200);

    // A new revision is written through A; B does not hear of it.
    await request(a.url).put(`/api/fleet/agent_policies/${POLICY}`).set(a.admin).send({ description: 'newer' }).expect(200);
    const second = (await request(a.url).get(`/api/fleet/agent_policies/${POLICY}`).set(a.admin).expect(200)).body.item.revision as number;
    expect(second).to.be.greaterThan(first);

    // The agent got and runs the newer revision (from A), then checks in to B.
    const res = await checkinOnB(second);
    expect(res.status).to.equal(200);
    const policies = ((res.body as { actions?: Array<{ type: string; id: string }> }).actions ?? []).filter((x) => x.type === 'POLICY_CHANGE');
    expect(policies.map((p) => p.id), 'an older revision was sent back').to.deep.equal([]);
  });

  it('When a second newer revision is reported within the refresh throttle, then B still sends nothing older back', async () => {
    const revisionOf = async () => (await request(a.url).get(`/api/fleet/agent_policies/${POLICY}`).set(a.admin).expect(200)).body.item.revision as number;
    // B knows the current revision; then it reads the store for a newer reported one (the refresh of this second).
    expect((await checkinOnB(await revisionOf())).status).to.equal(200);
    await request(a.url).put(`/api/fleet/agent_policies/${POLICY}`).set(a.admin).send({ description: 'third' }).expect(200);
    const third = await revisionOf();
    const held = checkinOnB(third).then((r) => r);
    await new Promise((r) => setTimeout(r, 150));
    // A newer one still, reported to B within the same second (the first poll still open): B's
    // refresh is throttled and its cache holds the previous revision, which the agent has acked.
    await request(a.url).put(`/api/fleet/agent_policies/${POLICY}`).set(a.admin).send({ description: 'fourth' }).expect(200);
    const fourth = await revisionOf();
    const res = await checkinOnB(fourth);
    expect((await held).status).to.equal(200);
    expect(res.status).to.equal(200);
    const policies = ((res.body as { actions?: Array<{ type: string; id: string }> }).actions ?? []).filter((x) => x.type === 'POLICY_CHANGE');
    expect(policies.map((p) => p.id), 'an older revision was sent back').to.deep.equal([]);
  });
});
