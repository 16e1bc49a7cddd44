import type { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { enrollAgent, eventually, startHarness, type Harness } from './support/fleet-server-harness';

const script = resolve(__dirname, '../../../deploy/elasticsearch/es-node.sh');
const es = (...args: string[]) => execFileSync(script, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 }).trim();

const ackEvent = (agent: FleetAgentClient, id: string) => ({
  type: 'ACTION_RESULT',
  subtype: 'ACKNOWLEDGED',
  agent_id: agent.agentId,
  action_id: id,
  message: 'ok',
  timestamp: new Date().toISOString(),
});

describe('Elasticsearch stopped mid-run (dedicated node)', function () {
  this.timeout(240_000);
  let workDir: string;
  let h: Harness;
  const agents: FleetAgentClient[] = [];

  before(async function () {
    workDir = mkdtempSync(join(tmpdir(), 'fleet-es-outage-'));
    const envFile = es('start', workDir);
    const env = Object.fromEntries(
      readFileSync(envFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    h = await startHarness({
      store: {
        backend: 'elasticsearch',
        elasticsearch: { hosts: [env.FLEET_ES_URL], serviceTokenFile: env.FLEET_ES_SERVICE_TOKEN_FILE, requestTimeoutMs: 5_000, bulkFlushIntervalMs: 50 },
      },
      // Long polls outlast the outage; the health check runs every 5 s.
      checkin: { longPollMs: 120_000 },
    });
  });
  after(async () => {
    for (const a of agents) a.close();
    await h?.stop();
    try {
      es('clean', workDir);
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  });

  it('When Elasticsearch stops and comes back, then polls stay open, status goes DEGRADED and back, and queued writes land exactly once', async () => {
    // Three agents on the latest policy; one has an action waiting to be acked.
    for (let i = 0; i < 3; i++) {
      const a = await enrollAgent(h);
      const first = await a.checkin({ status: 'online', message: 'before' });
      await a.ack((first.actions ?? []).map((x) => ackEvent(a, x.id)));
      agents.push(a);
    }
    const [acker, b, c] = agents as [FleetAgentClient, FleetAgentClient, FleetAgentClient];
    const created = await request(h.url).post(`/api/fleet/agents/${acker.agentId}/actions`).set(h.admin).send({ action: { type: 'SETTINGS', data: { log_level: 'debug' } } }).expect(200);
    const actionId = created.body.item.id as string;
    const delivered = await acker.checkin({ status: 'online', message: 'before' });
    expect(delivered.actions?.map((x) => x.id)).to.deep.equal([actionId]);

    let settled = 0;
    const polls = [b, c].map((a) =>
      a.checkin({ status: 'online', message: 'polling through the outage' }).finally(() => {
        settled += 1;
      }),
    );
    await eventually(() => h.server.gateway.registry.size >= 2);

    const stoppedAt = Date.now();
    es('stop', workDir);

    const degraded = await eventually(async () => {
      const res = await request(h.url).get('/api/status');
      return res.status === 503 && res.body.status === 'DEGRADED' ? res : undefined;
    }, 20_000, 250);
    expect(degraded.body).to.deep.equal({ name: 'fleet-server', status: 'DEGRADED' });

    // During the outage: acks are refused with 503 + Retry-After (the agent retries), polls stay
    // open, and their last_checkin refreshes wait in the bounded status buffer.
    const refused = await acker.ack([ackEvent(acker, actionId)]).catch((e: { status: number; headers: Record<string, string> }) => e);
    expect(refused).to.have.property('status', 503);
    await eventually(() => h.server.gateway.statusWrites.size >= 2, 10_000);
    expect(settled, 'long polls ended during the outage').to.equal(0);

    es('resume', workDir);
    await eventually(async () => (await request(h.url).get('/api/status')).status === 200, 60_000, 250);

    // The agent retries its ack; a repeat is harmless; exactly one result is stored.
    expect((await acker.ack([ackEvent(acker, actionId)])).status).to.equal(200);
    expect((await acker.ack([ackEvent(acker, actionId)])).status).to.equal(200);
    const results = await h.server.store.actionResults.listByActionId(actionId);
    expect(results.map((r) => r._id)).to.deep.equal([`${actionId}:${acker.agentId}`]);

    // The queued status writes land.
    await eventually(() => h.server.gateway.statusWrites.size === 0, 20_000);
    await h.server.gateway.statusWrites.flush();
    for (const a of [b, c]) {
      const doc = await h.server.store.agents.get(a.agentId!);
      expect(Date.parse(doc!._source.last_checkin!), 'last_checkin written after the outage began').to.be.at.least(Math.floor(stoppedAt / 1000) * 1000);
    }

    // The polls that lived through the outage still get the next policy revision.
    expect(settled).to.equal(0);
    await request(h.url).put('/api/fleet/agent_policies/fleet-default-policy').set(h.admin).send({ description: 'after the outage' }).expect(200);
    const answers = await Promise.all(polls);
    for (const res of answers) expect(res.actions?.[0]?.id).to.equal('policy:fleet-default-policy:2');
  });
});
