/**
 * The `store.rollouts` part of the store contract (rollout progress counts), run by
 * `defineStoreContract` for every backend.
 */
import { expect } from 'chai';
import type { ActionDoc, AgentDoc, FleetStore, RolloutCounts } from '@fleet/store';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');
const at = (offsetMs: number): string => new Date(T0 + offsetMs).toISOString();
const MINUTE = 60_000;

function agent(overrides: Partial<AgentDoc>): AgentDoc {
  return {
    active: true,
    type: 'PERMANENT',
    enrolled_at: at(-60 * MINUTE),
    policy_id: 'policy-r',
    access_api_key_id: 'access-key',
    agent: { id: 'x', version: '9.1.0' },
    local_metadata: { host: { hostname: 'host' } },
    tags: [],
    action_seq_no: [-1],
    ...overrides,
  };
}

const action = (actionId: string, agents: string[]): ActionDoc => ({
  action_id: actionId,
  '@timestamp': at(-MINUTE),
  expiration: at(24 * 60 * MINUTE),
  type: 'UNENROLL',
  agents,
});

const summary = (c: RolloutCounts) => ({
  targeted: c.targeted,
  acknowledged: c.acknowledged,
  failed: c.failed,
  behind: c.behind.map((b) => [b.agent._id, b.failed, b.error ?? null]),
});

/** Reads until `done` holds (a backend may show a write after its refresh interval), bounded. */
async function settled<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5_000;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    value = await read();
  }
  return value;
}

export function defineRolloutStoreContract(store: () => FleetStore): void {
  describe('rollouts', function () {
    it('When a revision is asked for, then that revision of that policy is returned, or undefined', async function () {
      for (const revision of [1, 2]) {
        await store().policies.create({ '@timestamp': at(revision * 1000), policy_id: 'policy-r', revision_idx: revision, coordinator_idx: 1, data: { id: 'policy-r', revision, outputs: {}, inputs: [] } });
      }
      const first = await store().rollouts.revision('policy-r', 1);
      expect(first?._source).to.include({ policy_id: 'policy-r', revision_idx: 1, '@timestamp': at(1000) });
      expect(await store().rollouts.revision('policy-r', 3)).to.equal(undefined);
      expect(await store().rollouts.revision('policy-other', 1)).to.equal(undefined);
    });

    it('When a policy revision rolls out, then active agents of the policy are counted: applied, failed (status error), and the others behind, failed first then longest silent', async function () {
      const s = store();
      await s.agents.create('p-acked', agent({ policy_revision_idx: 2, last_checkin: at(-MINUTE) }));
      await s.agents.create('p-ahead', agent({ policy_revision_idx: 3, last_checkin: at(-MINUTE) }));
      await s.agents.create('p-failed', agent({ policy_revision_idx: 1, last_checkin: at(-MINUTE), last_checkin_status: 'ERROR', last_checkin_message: 'cannot apply output' }));
      await s.agents.create('p-silent', agent({ policy_revision_idx: 1, last_checkin: at(-120 * MINUTE) }));
      await s.agents.create('p-pending', agent({ last_checkin: at(-2 * MINUTE) }));
      await s.agents.create('p-inactive', agent({ active: false, policy_revision_idx: 1 }));
      await s.agents.create('p-elsewhere', agent({ policy_id: 'policy-other', policy_revision_idx: 1 }));

      const counts = await s.rollouts.policyProgress({ policyId: 'policy-r', revision: 2, behindLimit: 10 });
      expect(summary(counts)).to.deep.equal({
        targeted: 5,
        acknowledged: 2,
        failed: 1,
        behind: [
          ['p-failed', true, 'cannot apply output'],
          ['p-silent', false, null],
          ['p-pending', false, null],
        ],
      });
      const limited = await s.rollouts.policyProgress({ policyId: 'policy-r', revision: 2, behindLimit: 2 });
      expect(limited.behind.map((b) => b.agent._id)).to.deep.equal(['p-failed', 'p-silent']);
      expect(summary(await s.rollouts.policyProgress({ policyId: 'policy-none', revision: 1, behindLimit: 10 }))).to.deep.equal({
        targeted: 0,
        acknowledged: 0,
        failed: 0,
        behind: [],
      });
    });

    it('When an action rolls out, then its agents over all its documents that are active or answered are counted: results without error, with error, and the rest behind', async function () {
      const s = store();
      await s.agents.create('a-ok', agent({ last_checkin: at(-MINUTE) }));
      await s.agents.create('a-error', agent({ last_checkin: at(-MINUTE) }));
      await s.agents.create('a-waiting', agent({ last_checkin: at(-3 * MINUTE) }));
      await s.agents.create('a-unenrolled', agent({ active: false, last_checkin: at(-MINUTE) }));
      await s.agents.create('a-gone', agent({ active: false, last_checkin: at(-MINUTE) }));
      await s.agents.create('a-other', agent({ last_checkin: at(-MINUTE) }));
      await s.actions.create(action('act-r', ['a-ok', 'a-error', 'a-waiting']));
      await s.actions.create(action('act-r', ['a-unenrolled', 'a-gone']));
      await s.actions.create(action('act-other', ['a-other']));
      await s.actionResults.createMany([
        { '@timestamp': at(0), action_id: 'act-r', agent_id: 'a-ok' },
        { '@timestamp': at(0), action_id: 'act-r', agent_id: 'a-error', error: 'disk full' },
        { '@timestamp': at(0), action_id: 'act-r', agent_id: 'a-unenrolled' },
        { '@timestamp': at(0), action_id: 'act-r', agent_id: 'not-a-target' },
        { '@timestamp': at(0), action_id: 'act-other', agent_id: 'a-other' },
      ]);

      const counts = await settled(
        () => s.rollouts.actionProgress({ actionId: 'act-r', behindLimit: 10 }),
        (c) => c.acknowledged + c.failed === 3,
      );
      expect(summary(counts)).to.deep.equal({
        targeted: 4,
        acknowledged: 2,
        failed: 1,
        behind: [
          ['a-error', true, 'disk full'],
          ['a-waiting', false, null],
        ],
      });
      expect(summary(await s.rollouts.actionProgress({ actionId: 'act-none', behindLimit: 10 }))).to.deep.equal({
        targeted: 0,
        acknowledged: 0,
        failed: 0,
        behind: [],
      });
    });
  });
}
