import type { CheckinResponse, FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import request from 'supertest';
import { enrollAgent, eventually, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

const POLICY = 'fleet-default-policy';

/**
 * A change travels one way: the management write tells the change monitor (`wrote`), the monitor
 * reads the feed and announces, the gateway reads up to the announced position and wakes the poll.
 * With both feeds' periodic reads ten minutes apart, only that path can answer the poll.
 */
for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) {
  describe(`A write reaches a held poll through the change monitor alone (all-in-one, ${backend} store)`, function () {
    this.timeout(60_000);
    let h: Harness;
    let agent: FleetAgentClient;

    before(async () => {
      h = await startHarness({ feedPollIntervalMs: 600_000, dispatch: { feedPollIntervalMs: 600_000 } }, undefined, backend);
      agent = await enrollAgent(h);
      const first = await agent.checkin({ status: 'online', message: 'Running' });
      await agent.ack((first.actions ?? []).map((a) => ({ type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', agent_id: agent.agentId, action_id: a.id, message: 'ok', timestamp: new Date().toISOString() })));
    });
    after(async () => {
      agent.close();
      await h.stop();
    });

    /** A poll held open (wrapped: an async function would wait for the promise it returns). */
    const held = async (): Promise<{ poll: Promise<CheckinResponse> }> => {
      const poll = agent.checkin({ status: 'online', message: 'Running', poll_timeout: '2m30s' });
      await eventually(() => h.server.gateway.registry.size > 0, 10_000);
      return { poll };
    };

    it('When a policy is updated, then the held poll gets the new revision within seconds, not at the next feed poll', async () => {
      const { poll } = await held();
      const wrote = Date.now();
      await request(h.url).put(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).send({ description: 'one way' }).expect(200);
      const res = await poll;
      expect(Date.now() - wrote).to.be.lessThan(5_000);
      const change = (res.actions ?? []).find((a) => a.type === 'POLICY_CHANGE');
      expect(change?.id).to.equal(`policy:${POLICY}:2`);
      await agent.ack([{ type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', agent_id: agent.agentId, action_id: change?.id ?? '', message: 'ok', timestamp: new Date().toISOString() }]);
    });

    it('When an action is created, then the held poll gets it within seconds, not at the next feed poll', async () => {
      const { poll } = await held();
      const wrote = Date.now();
      const created = await request(h.url)
        .post(`/api/fleet/agents/${agent.agentId}/actions`)
        .set(h.admin)
        .send({ action: { type: 'SETTINGS', data: { log_level: 'debug' } } })
        .expect(200);
      const res = await poll;
      expect(Date.now() - wrote).to.be.lessThan(5_000);
      expect((res.actions ?? []).map((a) => a.id)).to.deep.equal([created.body.item.id]);
    });
  });
}
