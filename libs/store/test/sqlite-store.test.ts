import { expect } from 'chai';
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteFleetStore } from '@fleet/store';
import type { FleetStore } from '@fleet/store';
import { actionDoc, agentDoc, defineStoreContract, policyDoc } from './store-contract';
import { auditRecord } from './management-store-contract';

describe('SqliteFleetStore', function () {
  let dir: string | undefined;
  let counter = 0;
  const paths = new WeakMap<FleetStore, string>();

  const tempDir = (): string => (dir ??= mkdtempSync(join(tmpdir(), 'fleet-store-test-')));
  const newPath = (): string => join(tempDir(), `store-${++counter}.db`);
  const openAt = (path: string): SqliteFleetStore => {
    const store = new SqliteFleetStore({ path });
    paths.set(store, path);
    return store;
  };

  after(function () {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  defineStoreContract(
    'sqlite',
    () => Promise.resolve(openAt(newPath())),
    async (store) => {
      const path = paths.get(store);
      if (!path) throw new Error('store was not opened by this suite');
      await store.close();
      return openAt(path);
    },
  );

  describe('sqlite specifics', function () {
    const stores: SqliteFleetStore[] = [];
    const track = (store: SqliteFleetStore): SqliteFleetStore => {
      stores.push(store);
      return store;
    };

    afterEach(async function () {
      for (const store of stores.splice(0)) await store.close();
    });

    it('When the store is closed and reopened on the same file, then agents, policies and actions survive with their _seq_no', async function () {
      const path = newPath();
      const first = track(openAt(path));
      const agent = await first.agents.create('agent-1', agentDoc({ tags: ['persisted'] }));
      const updated = await first.agents.update('agent-1', { last_checkin: '2025-06-01T11:59:50.000Z' });
      const policies = [
        await first.policies.create(policyDoc('policy-1', 1)),
        await first.policies.create(policyDoc('policy-1', 2)),
      ];
      const actions = [
        await first.actions.create(actionDoc('act-1', ['agent-1'], '2099-01-01T00:00:00.000Z'), 'doc-1'),
        await first.actions.create(actionDoc('act-2', ['agent-1'], '2099-01-01T00:00:00.000Z'), 'doc-2'),
      ];
      await first.close();

      const second = track(openAt(path));
      expect(updated._seq_no).to.be.greaterThan(agent._seq_no);
      expect(await second.agents.get('agent-1')).to.deep.equal(updated);
      expect(await second.policies.latest('policy-1')).to.deep.equal(policies[1]);
      expect(await second.policies.changesSince(0, 10)).to.deep.equal(policies);
      expect(await second.actions.get('doc-1')).to.deep.equal(actions[0]);
      expect(await second.actions.changesSince(0, 10)).to.deep.equal(actions);
      const pending = await second.actions.pendingFor({
        agentId: 'agent-1',
        afterSeqNo: 0,
        now: new Date('2025-06-01T12:00:00.000Z'),
        limit: 10,
      });
      expect(pending).to.deep.equal(actions);
    });

    it('When writing after a reopen, then checkpoints continue increasing and never reuse a number', async function () {
      const path = newPath();
      const first = track(openAt(path));
      const before = {
        agent: await first.agents.create('agent-1', agentDoc()),
        policy: await first.policies.create(policyDoc('policy-1', 1)),
        action: await first.actions.create(actionDoc('act-1', ['agent-1'])),
      };
      const checkpoints = { policies: await first.policies.checkpoint(), actions: await first.actions.checkpoint() };
      await first.close();

      const second = track(openAt(path));
      expect(await second.policies.checkpoint()).to.equal(checkpoints.policies);
      expect(await second.actions.checkpoint()).to.equal(checkpoints.actions);

      const after = {
        agent: await second.agents.create('agent-2', agentDoc()),
        agentUpdate: await second.agents.update('agent-1', { tags: ['x'] }),
        policy: await second.policies.create(policyDoc('policy-1', 2)),
        action: await second.actions.create(actionDoc('act-2', ['agent-1'])),
      };
      expect(after.agent._seq_no).to.be.greaterThan(before.agent._seq_no);
      expect(after.agentUpdate._seq_no).to.be.greaterThan(after.agent._seq_no);
      expect(after.policy._seq_no).to.be.greaterThan(before.policy._seq_no);
      expect(after.action._seq_no).to.be.greaterThan(before.action._seq_no);
      expect(await second.policies.checkpoint()).to.equal(after.policy._seq_no);
      expect(await second.actions.checkpoint()).to.equal(after.action._seq_no);

      // Deleting the newest action must not let its number be handed out again.
      const expiring = await second.actions.create(actionDoc('act-3', ['agent-1'], '2000-01-01T00:00:00.000Z'));
      expect(await second.actions.deleteExpiredBefore(new Date('2025-01-01T00:00:00.000Z'))).to.equal(1);
      await second.close();

      const third = track(openAt(path));
      const last = await third.actions.create(actionDoc('act-4', ['agent-1']));
      expect(last._seq_no).to.be.greaterThan(expiring._seq_no);
      expect((await third.actions.changesSince(0, 10)).map((h) => h._seq_no)).to.deep.equal([
        before.action._seq_no,
        after.action._seq_no,
        last._seq_no,
      ]);
    });

    it('When another connection tries to change or delete an audit record, then the file itself refuses', async function () {
      const path = newPath();
      const store = track(openAt(path));
      await store.audit.append(auditRecord(1));
      const other = new Database(path, { fileMustExist: true });
      try {
        expect(() => other.prepare("UPDATE audit_records SET doc = '{}'").run()).to.throw(/append-only/);
        expect(() => other.prepare('DELETE FROM audit_records').run()).to.throw(/append-only/);
      } finally {
        other.close();
      }
      expect((await store.audit.list({ page: 1, perPage: 10 })).items).to.deep.equal([auditRecord(1)]);
    });

    it('When the file is inspected through a separate connection, then it is in WAL mode', async function () {
      const path = newPath();
      const store = track(openAt(path));
      await store.agents.create('agent-1', agentDoc());
      const other = new Database(path, { readonly: true, fileMustExist: true });
      try {
        expect(String(other.pragma('journal_mode', { simple: true })).toLowerCase()).to.equal('wal');
        const row = other.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM agents').get();
        expect(row?.n).to.equal(1);
      } finally {
        other.close();
      }
    });

    it('When several processes write to the same file at once, then no write fails and every write is kept', async function () {
      this.timeout(120_000);
      const path = newPath();
      const store = track(openAt(path));
      for (const id of ['agent-1', 'agent-2', 'agent-3', 'agent-4']) await store.agents.create(id, agentDoc({ agent: { id, version: '9.1.0' } }));
      const writer = join(__dirname, 'support', 'concurrent-writer.ts');
      const run = (name: string) =>
        new Promise<{ failures: number; first: string }>((resolve, reject) => {
          execFile(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', writer, path, name, '300'], (err: Error | null, stdout) => {
            if (err) reject(err);
            else resolve(JSON.parse(stdout) as { failures: number; first: string });
          });
        });
      const results = await Promise.all(['w1', 'w2', 'w3'].map(run));
      expect(results.map((r) => r.first).filter(Boolean)).to.deep.equal([]);
      expect(results.map((r) => r.failures)).to.deep.equal([0, 0, 0]);
      // 3 writers x 300 rounds x (1 mutate + 4 updates) writes, each with its own _seq_no.
      const hits = await Promise.all(['agent-1', 'agent-2', 'agent-3', 'agent-4'].map((id) => store.agents.get(id)));
      expect(Math.max(...hits.map((h) => h?._seq_no ?? 0))).to.equal(4 + 3 * 300 * 5);
    });

    it('When a batched write sets fields in place, then they replace whole values, keep null as null, leave the rest, and bump _seq_no', async function () {
      const store = track(new SqliteFleetStore({ path: ':memory:' }));
      const created = await store.agents.create('agent-1', agentDoc({ local_metadata: { host: { hostname: 'h1', id: 'x' } }, tags: ['t'] }));
      const outcomes = await store.agents.updateMany([
        {
          id: 'agent-1',
          fields: { local_metadata: { host: { hostname: 'h2' } }, unhealthy_reason: null, last_checkin_message: 'it\'s "ok" \u2028', action_seq_no: [4], components: undefined },
        },
      ]);
      expect(outcomes).to.deep.equal(['updated']);
      const after = await store.agents.get('agent-1');
      expect(after?._seq_no).to.be.above(created._seq_no);
      expect(after?._source.local_metadata).to.deep.equal({ host: { hostname: 'h2' } });
      expect(after?._source).to.have.property('unhealthy_reason', null);
      expect(after?._source).to.not.have.property('components');
      expect(after?._source.last_checkin_message).to.equal('it\'s "ok" \u2028');
      expect(after?._source.action_seq_no).to.deep.equal([4]);
      expect(after?._source.tags).to.deep.equal(['t']);
      expect(after?._source.policy_id).to.equal(created._source.policy_id);
      // A field mirrored in a column goes through the whole-row write and the column follows.
      await store.agents.updateMany([{ id: 'agent-1', fields: { policy_id: 'policy-2' } }]);
      expect(await store.agents.countByPolicy('policy-2')).to.equal(1);
      expect((await store.agents.get('agent-1'))?._source.policy_id).to.equal('policy-2');
    });

    it('When an in-memory store is opened, then it works without a file', async function () {
      const store = track(new SqliteFleetStore({ path: ':memory:' }));
      expect(store.backend).to.equal('sqlite');
      await store.ping();
      const hit = await store.agents.create('agent-1', agentDoc());
      expect(await store.agents.get('agent-1')).to.deep.equal(hit);
    });

    it('When an action targets 10,000 agents, half of them answered, then its progress is counted in well under a second', async function () {
      this.timeout(120_000);
      const store = track(new SqliteFleetStore({ path: ':memory:' }));
      const ids = Array.from({ length: 10_000 }, (_, i) => `agent-${i}`);
      await Promise.all(ids.map((id) => store.agents.create(id, agentDoc({ last_checkin: new Date().toISOString() }))));
      await store.actions.create(actionDoc('act-big', ids, new Date(Date.now() + 3_600_000).toISOString()));
      const answered = ids.filter((_, i) => i % 2 === 0);
      await store.actionResults.createMany(answered.map((id, i) => ({ '@timestamp': new Date().toISOString(), action_id: 'act-big', agent_id: id, ...(i % 10 === 0 ? { error: 'x' } : {}) })));
      const started = Date.now();
      const counts = await store.rollouts.actionProgress({ actionId: 'act-big', behindLimit: 100 });
      const elapsed = Date.now() - started;
      expect({ targeted: counts.targeted, acknowledged: counts.acknowledged, failed: counts.failed, behind: counts.behind.length }).to.deep.equal({
        targeted: 10_000,
        acknowledged: 4_500,
        failed: 500,
        behind: 100,
      });
      expect(elapsed, `${elapsed} ms`).to.be.lessThan(1_000);
    });
  });
});
