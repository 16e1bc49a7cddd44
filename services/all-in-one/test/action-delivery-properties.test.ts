import type { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import fc from 'fast-check';
import request from 'supertest';
import { localMetadata, sleep, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

/**
 * Property tests of action delivery, through the real gateway and store (checkin picks pending
 * actions with the store's `pendingFor` and `acknowledgedBy`, acks store results create-only): for
 * random interleavings of new actions, checkins (with and without the ack token), acks, server
 * restarts and re-enrollments,
 *  - an acknowledged action is never delivered again;
 *  - an action is never lost: every action created for an agent's current enrollment is
 *    delivered to it (at least once) by the end;
 *  - an action created before an agent enrolled again is never delivered to the new enrollment.
 * SQLite: a real file, restart = close and reopen it. Elasticsearch: the test node, restart = a
 * new store with a new client. FLEET_PROPERTY_RUNS sets the number of runs (heavier long runs).
 */

type Command =
  | { kind: 'action'; slot: number }
  | { kind: 'checkin'; slot: number; withToken: boolean }
  | { kind: 'ack'; slot: number; count: number }
  | { kind: 'restart' }
  | { kind: 'reenroll'; slot: number };

const SLOTS = 2;
const slot = fc.integer({ min: 0, max: SLOTS - 1 });
const commands: fc.Arbitrary<Command[]> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: slot.map((s): Command => ({ kind: 'action', slot: s })) },
    { weight: 5, arbitrary: fc.record({ slot, withToken: fc.boolean() }).map((c): Command => ({ kind: 'checkin', ...c })) },
    { weight: 3, arbitrary: fc.record({ slot, count: fc.integer({ min: 1, max: 3 }) }).map((c): Command => ({ kind: 'ack', ...c })) },
    { weight: 1, arbitrary: fc.constant<Command>({ kind: 'restart' }) },
    { weight: 1, arbitrary: slot.map((s): Command => ({ kind: 'reenroll', slot: s })) },
  ),
  { minLength: 4, maxLength: 24 },
);

/** One agent as the model sees it. */
interface AgentModel {
  client: FleetAgentClient;
  replaceToken: string;
  /** Created for the current enrollment, not delivered yet. */
  owed: Set<string>;
  /** Delivered to the current enrollment, not acknowledged. */
  delivered: Set<string>;
  /** Acknowledged by this agent id, ever, and when. */
  acked: Map<string, number>;
  /** Created for an earlier enrollment of this id. */
  stale: Set<string>;
}

const RUNS = Number(process.env.FLEET_PROPERTY_RUNS ?? 0);

/*
 * No allowance on either backend: an agent that checks in without its ack token right after an
 * ack (state lost) must not get the action again, although Elasticsearch reads results through a
 * search that lags writes by the refresh interval (a token-less checkin asks for fresh results).
 */

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) {
  describe(`Action delivery properties (all-in-one, ${backend} store)`, function () {
    this.timeout(240_000);
    let h: Harness;
    let run = 0;
    const totals = { delivered: 0, acked: 0, restarts: 0, reenrollments: 0 };

    before(async () => {
      // The agents never acknowledge their policy, so every checkin answers as soon as its look-up
      // is done; the poll only bounds a look-up (a poll that ends first answers empty, and on
      // Elasticsearch right after a restart a look-up can take a few hundred ms on 2 cores).
      h = await startHarness({ checkin: { longPollMs: 5_000, minPollMs: 0 } }, undefined, backend);
    });
    after(async () => {
      await h?.stop();
    });

    const enroll = async (m: Pick<AgentModel, 'replaceToken'> & { id?: string }): Promise<FleetAgentClient> => {
      const client = h.agent();
      await client.enroll(h.enrollmentToken, {
        type: 'PERMANENT',
        ...(m.id ? { id: m.id } : {}),
        replace_token: m.replaceToken,
        metadata: { local: localMetadata(), user_provided: {}, tags: [] },
      });
      return client;
    };

    /** Applies one checkin's answer to the model, failing on a delivery the properties forbid. */
    const deliver = (m: AgentModel, actions: Array<{ id: string; type: string }>, log: string[]) => {
      for (const a of actions) {
        if (a.type === 'POLICY_CHANGE') continue;
        log.push(`  delivered ${a.id} to ${m.client.agentId}`);
        const ackedAt = m.acked.get(a.id);
        expect(ackedAt === undefined, `acknowledged action ${a.id} delivered again\n${log.join('\n')}`).to.equal(true);
        expect(m.stale.has(a.id), `action ${a.id} of an earlier enrollment delivered to the new one\n${log.join('\n')}`).to.equal(false);
        expect(m.owed.has(a.id) || m.delivered.has(a.id), `unknown action ${a.id} delivered\n${log.join('\n')}`).to.equal(true);
        m.owed.delete(a.id);
        m.delivered.add(a.id);
        totals.delivered++;
      }
    };

    const runCommands = async (commands: Command[]): Promise<void> => {
      run++;
      const log: string[] = [`run ${run}: ${commands.length} commands`];
      const agents: AgentModel[] = [];
      for (let i = 0; i < SLOTS; i++) {
        const replaceToken = `replace-${run}-${i}-${'x'.repeat(16)}`;
        agents.push({ client: await enroll({ replaceToken }), replaceToken, owed: new Set(), delivered: new Set(), acked: new Map(), stale: new Set() });
      }
      try {
        for (const c of commands) {
          log.push(JSON.stringify(c));
          if (c.kind === 'restart') {
            await h.restart();
            totals.restarts++;
            continue;
          }
          const m = agents[c.slot]!;
          const id = m.client.agentId!;
          switch (c.kind) {
            case 'action': {
              const res = await request(h.url)
                .post(`/api/fleet/agents/${id}/actions`)
                .set(h.admin)
                .send({ action: { type: 'SETTINGS', data: { log_level: 'debug' } } });
              expect(res.status, JSON.stringify(res.body)).to.equal(200);
              m.owed.add(res.body.item.id as string);
              log.push(`  created ${res.body.item.id}`);
              break;
            }
            case 'checkin': {
              const res = await m.client.checkin({ status: 'online', message: '', ...(c.withToken ? {} : { ack_token: '' }) });
              deliver(m, res.actions ?? [], log);
              break;
            }
            case 'ack': {
              const events = [...m.delivered].slice(0, c.count).map((actionId) => ({ type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', agent_id: id, action_id: actionId }));
              if (!events.length) break;
              const res = await m.client.ack(events);
              expect(res.status, JSON.stringify(res.body)).to.equal(200);
              for (const e of events) {
                m.delivered.delete(e.action_id);
                m.acked.set(e.action_id, Date.now());
                totals.acked++;
              }
              log.push(`  acked ${events.map((e) => e.action_id).join(' ')}`);
              break;
            }
            case 'reenroll': {
              m.client.close();
              m.client = await enroll({ id, replaceToken: m.replaceToken });
              expect(m.client.agentId).to.equal(id);
              for (const a of [...m.owed, ...m.delivered]) m.stale.add(a);
              m.owed.clear();
              m.delivered.clear();
              totals.reenrollments++;
              break;
            }
          }
        }
        // Nothing is lost: keep checking in (new actions may take a refresh to be visible) until
        // every action owed to the current enrollment arrived, within a bound.
        for (const m of agents) {
          for (let i = 0; i < 40 && m.owed.size; i++) {
            const res = await m.client.checkin({ status: 'online', message: '' });
            deliver(m, res.actions ?? [], log);
            if (m.owed.size) await sleep(50);
          }
          if (m.owed.size) {
            const doc = (await h.server.store.agents.get(m.client.agentId!))?._source;
            const seqNos = await Promise.all([...m.owed].map(async (a) => `${a}=${(await h.server.store.actions.findByActionId(a))?._seq_no}`));
            log.push(`agent ${m.client.agentId}: action_seq_no ${doc?.action_seq_no?.join()} enrollment_action_seq_no ${doc?.enrollment_action_seq_no}; owed ${seqNos.join(' ')}`);
          }
          expect([...m.owed], `actions never delivered\n${log.join('\n')}`).to.deep.equal([]);
          const events = [...m.delivered].map((actionId) => ({ type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', action_id: actionId }));
          if (events.length) expect((await m.client.ack(events)).status).to.equal(200);
          totals.acked += events.length;
          for (const a of m.delivered) m.acked.set(a, Date.now());
          m.delivered.clear();
        }
        // And once all is acknowledged, a checkin without the token (a restarted agent) gets none of
        // it, at once, on either store.
        for (const m of agents) {
          deliver(m, (await m.client.checkin({ status: 'online', message: '', ack_token: '' })).actions ?? [], log);
        }
      } finally {
        for (const m of agents) m.client.close();
      }
    };

    const check = async (numRuns: number, test: Mocha.Runnable | undefined) => {
      await fc.assert(fc.asyncProperty(commands, runCommands), { numRuns, endOnFailure: true });
      // Not vacuous: the runs delivered and acknowledged actions.
      expect(totals.delivered, JSON.stringify(totals)).to.be.greaterThan(numRuns);
      expect(totals.acked, JSON.stringify(totals)).to.be.greaterThan(0);
      if (test) test.title += ` (${numRuns} runs: ${JSON.stringify(totals)})`;
    };

    it('When actions, checkins, acks, restarts and re-enrollments interleave at random, then no acked action is delivered again and none is lost', async function () {
      await check(RUNS > 0 ? RUNS : backend === 'sqlite' ? 12 : 6, this.test);
    });
  });
}
