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
});
