import { createFleetJobHandlers, InProcessJobQueue, readStatusHistory, STATUS_HISTORY_SERIES, type JobLogger } from '@fleet/background-jobs';
import { InProcessBus, type NotificationEnvelope } from '@fleet/notifications';
import { OutputKeyCluster, SqliteFleetStore, type AgentDoc, type AgentPolicyRecord } from '@fleet/store';
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const quiet: JobLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const HOUR = 3_600_000;

function policy(id: string, unenrollTimeoutSeconds?: number): AgentPolicyRecord {
  const now = new Date().toISOString();
  return {
    id,
    name: id,
    namespace: 'default',
    revision: 1,
    is_managed: false,
    status: 'active',
    monitoring_enabled: [],
    inactivity_timeout: 1_209_600,
    ...(unenrollTimeoutSeconds !== undefined ? { unenroll_timeout: unenrollTimeoutSeconds } : {}),
    created_at: now,
    updated_at: now,
    updated_by: 'test',
  };
}

describe('Fleet job handlers (embedded store)', function () {
  let dir: string;
  let store: SqliteFleetStore;
  let bus: InProcessBus;
  let jobs: InProcessJobQueue;
  const now = new Date();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-jobs-'));
    store = new SqliteFleetStore({ path: join(dir, 'fleet.db') });
    bus = new InProcessBus();
    jobs = new InProcessJobQueue({ retry: { attempts: 2, backoffMs: 10 }, logger: quiet });
  });

  afterEach(async () => {
    await jobs.close();
    await bus.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function agentWithKey(id: string, policyId: string, lastCheckinAgoMs: number): Promise<string> {
    const key = await store.credentials.create({ name: id, metadata: {} });
    const doc: AgentDoc = {
      active: true,
      type: 'PERMANENT',
      enrolled_at: new Date(now.getTime() - 48 * HOUR).toISOString(),
      last_checkin: new Date(now.getTime() - lastCheckinAgoMs).toISOString(),
      policy_id: policyId,
      access_api_key_id: key.id,
      agent: { id, version: '8.15.0' },
      local_metadata: {},
      tags: [],
      action_seq_no: [-1],
    };
    await store.agents.create(id, doc);
    return key.id;
  }

  it('When the status sampling job runs, then each run appends the store counts to the shared series, capped at 24 h of samples', async () => {
    await store.agentPolicies.create(policy('p'));
    await agentWithKey('recent', 'p', 10_000);
    await agentWithKey('silent', 'p', 2 * HOUR);
    let clock = new Date(now.getTime() - 24 * HOUR);
    // One sample every 12 h: 24 h of history is two samples.
    const handlers = createFleetJobHandlers({ store, bus, jobs, logger: quiet, retainExpiredActionsMs: HOUR, sweepBatchSize: 10, statusSampleIntervalMs: 12 * HOUR, now: () => clock });
    for (const at of [-24, -12, 0]) {
      clock = new Date(now.getTime() + at * HOUR);
      expect(await handlers['sample-agent-status']({})).to.deep.equal({ agents: 2 });
    }
    const kept = await bus.board.recent(STATUS_HISTORY_SERIES, 10);
    expect(kept.map((s) => s.timestamp)).to.deep.equal([new Date(now.getTime() - 12 * HOUR).toISOString(), now.toISOString()]);
    const expected = await store.agents.countByStatus({ now, showInactive: true });
    const day = await readStatusHistory(bus.board, 24, 12 * HOUR, now);
    expect(day).to.have.length(2);
    expect(day[1]).to.deep.equal({ timestamp: now.toISOString(), ...expected });
    expect(day[1]?.offline).to.equal(1);
    // The reader keeps the samples of the hours asked for.
    expect((await readStatusHistory(bus.board, 1, 12 * HOUR, now)).map((s) => s.timestamp)).to.deep.equal([now.toISOString()]);
  });

  it("When agents are silent for longer than their policy's unenroll_timeout, then the sweep unenrolls them (reason timeout), revokes their keys and ends their polls; the rest stay", async () => {
    await store.agentPolicies.create(policy('with-timeout', 3_600));
    await store.agentPolicies.create(policy('no-timeout'));
    const staleKey = await agentWithKey('stale', 'with-timeout', 2 * HOUR);
    const freshKey = await agentWithKey('fresh', 'with-timeout', 10 * 60_000);
    const elsewhereKey = await agentWithKey('elsewhere', 'no-timeout', 100 * HOUR);
    const revoked: NotificationEnvelope[] = [];
    bus.subscribe((e) => revoked.push(e));
    const handlers = createFleetJobHandlers({ store, bus, jobs, logger: quiet, retainExpiredActionsMs: HOUR, sweepBatchSize: 100, now: () => now });
    await jobs.startWorker(handlers, {});

    expect(await handlers['sweep-inactive-agents']({})).to.deep.equal({ policies: 1, unenrolled: 1 });
    await jobs.close();

    const stale = (await store.agents.get('stale'))!._source;
    expect(stale).to.include({ active: false, unenrolled_reason: 'timeout', unenrolled_at: now.toISOString() });
    expect((await store.credentials.get(staleKey))?.invalidated).to.equal(true);
    expect((await store.agents.get('fresh'))!._source.active).to.equal(true);
    expect((await store.credentials.get(freshKey))?.invalidated).to.equal(false);
    expect((await store.agents.get('elsewhere'))!._source.active).to.equal(true);
    expect((await store.credentials.get(elsewhereKey))?.invalidated).to.equal(false);
    expect(revoked.map((e) => e.notification)).to.deep.equal([{ kind: 'agent-revoked', agent_id: 'stale', api_key_ids: [staleKey] }]);
    // A second sweep finds nothing more to do.
    expect(await handlers['sweep-inactive-agents']({})).to.deep.equal({ policies: 1, unenrolled: 0 });
  });

  it('When an agent acked the revision that replaced an output key, then retirement revokes only the unused keys, on the output key cluster, and forgets them', async function () {
    this.timeout(30_000);
    // With built-in credentials, output keys live on the output key cluster (the test node), not in the store.
    const cluster = new OutputKeyCluster({
      hosts: [process.env.FLEET_ES_URL ?? ''],
      serviceToken: readFileSync(process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '', 'utf8').trim(),
    });
    const keyed = new SqliteFleetStore({ path: join(dir, 'keyed.db'), outputKeyCluster: cluster });
    try {
      const current = await cluster.credentials.create({ name: 'out-current', metadata: {} });
      const old = await cluster.credentials.create({ name: 'out-old', metadata: {} });
      const access = await keyed.credentials.create({ name: 'agent', metadata: {} });
      await keyed.agents.create('agent', {
        active: true,
        type: 'PERMANENT',
        enrolled_at: now.toISOString(),
        policy_id: 'p',
        access_api_key_id: access.id,
        agent: { id: 'agent', version: '8.15.0' },
        local_metadata: {},
        tags: [],
        action_seq_no: [-1],
        outputs: {
          default: { api_key_id: current.id, api_key: 'x', type: 'elasticsearch', to_retire_api_key_ids: [{ id: old.id, retired_at: now.toISOString() }, { id: current.id, retired_at: now.toISOString() }] },
        },
      });
      const handlers = createFleetJobHandlers({ store: keyed, bus, jobs, logger: quiet, retainExpiredActionsMs: HOUR, sweepBatchSize: 100 });
      expect(await handlers['retire-output-keys']({ agent_id: 'agent' })).to.deep.equal({ retired: 1 });
      expect((await cluster.credentials.get(old.id))?.invalidated).to.equal(true);
      expect((await cluster.credentials.get(current.id))?.invalidated).to.equal(false);
      expect((await keyed.credentials.get(access.id))?.invalidated).to.equal(false);
      const left = (await keyed.agents.get('agent'))!._source.outputs!.default!.to_retire_api_key_ids;
      expect(left).to.deep.equal([{ id: current.id, retired_at: now.toISOString() }]);
      expect(await handlers['retire-output-keys']({ agent_id: 'missing' })).to.deep.equal({ retired: 0 });
      await cluster.credentials.invalidate([current.id]);
    } finally {
      await keyed.close();
    }
  });

  it('When output keys must be retired but no output key cluster is configured any more, then they are counted unresolved and forgotten', async () => {
    const access = await agentWithKey('agent', 'p', 0);
    await store.agents.update('agent', {
      outputs: { default: { type: 'elasticsearch', to_retire_api_key_ids: [{ id: 'gone-key', retired_at: now.toISOString() }] } },
    });
    const handlers = createFleetJobHandlers({ store, bus, jobs, logger: quiet, retainExpiredActionsMs: HOUR, sweepBatchSize: 100 });
    expect(await handlers['retire-output-keys']({ agent_id: 'agent' })).to.deep.equal({ retired: 1, output_unresolved: 1 });
    expect((await store.agents.get('agent'))!._source.outputs!.default!.to_retire_api_key_ids).to.deep.equal([]);
    expect((await store.credentials.get(access))?.invalidated).to.equal(false);
  });
});
