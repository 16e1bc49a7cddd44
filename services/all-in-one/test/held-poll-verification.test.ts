import { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { enrollAgent, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

const POLICY = 'fleet-default-policy';
const TTL_MS = 1_000;

/**
 * Revocations that no notification announces (a key invalidated outside Fleet, or an agent
 * deactivated by another process while the bus was down) still end held long polls, within the
 * auth cache TTL and one verification tick (250 ms at this TTL).
 */
for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) {
  describe(`Held polls verified again after the auth cache TTL (${backend})`, function () {
    this.timeout(60_000);
    let h: Harness;
    const agents: FleetAgentClient[] = [];

    before(async () => {
      h = await startHarness({ auth: { ttlMs: TTL_MS }, checkin: { longPollMs: 20_000 }, log: { level: 'warn' } }, undefined, backend);
    });
    after(async () => {
      for (const a of agents) a.close();
      await h.stop();
    });

    /** An agent running the current revision, and its long poll (held: nothing to deliver). */
    async function holding(): Promise<{ agent: FleetAgentClient; poll: Promise<{ status: number; at: number }> }> {
      const agent = await enrollAgent(h);
      agents.push(agent);
      const first = await agent.checkin({ status: 'online', message: '' });
      await agent.ack((first.actions ?? []).map((x) => ({ action_id: x.id, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' })));
      const revision = Number(first.actions?.[0]?.id.split(':')[2]);
      const poll = agent
        .call('POST', `/api/fleet/agents/${agent.agentId}/checkin`, { status: 'online', message: '', agent_policy_id: POLICY, policy_revision_idx: revision }, `ApiKey ${agent.accessApiKey}`, {}, true)
        .then((r) => ({ status: r.status, at: Date.now() }));
      return { agent, poll };
    }
    const keyIdOf = (agent: FleetAgentClient) => Buffer.from(agent.accessApiKey ?? '', 'base64').toString().split(':')[0] ?? '';
    const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);

    it('When a held poll\'s key is invalidated without a notification, then the poll ends with 401 within the TTL, and other polls stay open', async () => {
      const revoked = await holding();
      const kept = await holding();
      await new Promise((r) => setTimeout(r, 300));
      // Straight in the store, as Elasticsearch's invalidate API would: no bus message.
      await h.server.store.credentials.invalidate([keyIdOf(revoked.agent)]);
      const invalidated = Date.now();
      const ended = await within(revoked.poll, TTL_MS + 250 + 1_500);
      expect(ended?.status, 'the revoked poll').to.equal(401);
      expect((ended?.at ?? Infinity) - invalidated).to.be.lessThan(TTL_MS + 250 + 1_000);
      // The other agent was verified too, and found valid: its poll goes on.
      expect(await within(kept.poll, 2 * TTL_MS), 'the valid poll').to.equal(undefined);
      expect(h.server.gateway.verifier.revoked).to.equal(1);
    });

    it('When a held poll\'s agent is deactivated without a notification, then the poll ends with 401 within the TTL', async () => {
      const { agent, poll } = await holding();
      await new Promise((r) => setTimeout(r, 300));
      await h.server.store.agents.update(agent.agentId ?? '', { active: false, unenrolled_at: new Date().toISOString() });
      const deactivated = Date.now();
      const ended = await within(poll, TTL_MS + 250 + 1_500);
      expect(ended?.status).to.equal(401);
      expect((ended?.at ?? Infinity) - deactivated).to.be.lessThan(TTL_MS + 250 + 1_000);
    });
  });
}
