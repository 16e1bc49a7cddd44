import { FleetAgentClient, type CheckinResponse } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { Agent as HttpAgent } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTopology, type Topology } from '../../../deploy/topology/local-topology';
import { wipeFleetIndices } from './support/elasticsearch-admin';
import { localMetadata } from './support/fleet-server-harness';

const POLICY = 'fleet-default-policy';
const FLEET_SIZE = 200;

describe('Scaled out: 3 gateways, 2 enrollment, 2 dispatchers behind haproxy, on Elasticsearch and Redis', function () {
  this.timeout(180_000);
  let topo: Topology;
  let admin: Record<string, string>;
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 1000 });
  const agents: FleetAgentClient[] = [];

  const management = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${topo.url}${path}`, { method, headers: admin, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const ackAll = (a: FleetAgentClient, res: CheckinResponse) =>
    a.ack((res.actions ?? []).map((x) => ({ action_id: x.id, agent_id: a.agentId, timestamp: new Date().toISOString(), message: 'ok' })));

  before(async () => {
    await wipeFleetIndices();
    topo = await startTopology({
      elasticsearchUrl: process.env.FLEET_ES_URL ?? '',
      serviceTokenFile: process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '',
      redisUrl: process.env.FLEET_TEST_REDIS_URL ?? '',
      fromSource: true,
      env: {
        FLEET_CHECKIN_LONG_POLL_MS: '30000',
        FLEET_CHECKIN_JITTER_MS: '0',
        FLEET_PBKDF2_ITERATIONS: '1000',
        // Slow feed polls: fast deliveries below can only come from the Redis notifications.
        FLEET_FEED_POLL_INTERVAL_MS: '10000',
        FLEET_BUS_CHANNEL: `topology-${process.pid}`,
      },
    });
    admin = { Authorization: `Bearer ${readFileSync(join(topo.dataDir, 'admin-token'), 'utf8').trim()}`, 'Content-Type': 'application/json' };
  });
  after(async () => {
    for (const a of agents) a.close();
    httpAgent.destroy();
    await topo?.close();
  });

  it('When an agent checks in repeatedly, then its checkins land on different gateway replicas and it notices nothing', async () => {
    const token = readFileSync(join(topo.dataDir, 'enrollment-token'), 'utf8').trim();
    const agent = new FleetAgentClient({ url: topo.url, httpAgent });
    await agent.enroll(token, { type: 'PERMANENT', metadata: { local: localMetadata() } });
    agents.push(agent);
    const replicas = new Set<string>();
    const first = await agent.checkin({ status: 'online', message: '' });
    replicas.add(String(agent.lastResponseHeaders['x-fleet-replica']));
    await ackAll(agent, first);
    for (let i = 0; i < 5; i++) {
      // An action makes each checkin answer at once.
      await management('POST', `/api/fleet/agents/${agent.agentId}/actions`, { action: { type: 'SETTINGS', data: { log_level: 'info' } } });
      const res = await agent.checkin({ status: 'online', message: '' });
      replicas.add(String(agent.lastResponseHeaders['x-fleet-replica']));
      expect(res.actions?.map((a) => a.type)).to.deep.equal(['SETTINGS']);
      expect((await ackAll(agent, res)).status).to.equal(200);
    }
    expect([...replicas].every((r) => r.startsWith('gateway-'))).to.equal(true);
    expect(replicas.size, `replicas seen: ${[...replicas].join(', ')}`).to.be.at.least(3);
  });

  it(`When ${FLEET_SIZE} agents long-poll across the replicas and the policy changes, then every one gets exactly one POLICY_CHANGE within a second`, async () => {
    const token = readFileSync(join(topo.dataDir, 'enrollment-token'), 'utf8').trim();
    const fleet: FleetAgentClient[] = [];
    for (let i = 0; i < FLEET_SIZE; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          const a = new FleetAgentClient({ url: topo.url, httpAgent });
          await a.enroll(token, { type: 'PERMANENT', metadata: { local: localMetadata(`host-${i + j}`) } });
          const res = await a.checkin({ status: 'online', message: '' });
          await ackAll(a, res);
          fleet.push(a);
        }),
      );
    }
    agents.push(...fleet);
    const current = (await management('GET', `/api/fleet/agent_policies/${POLICY}`)).item as { revision: number };
    const answeredAt: number[] = [];
    const polls = fleet.map((a) =>
      a.checkin({ status: 'online', message: '', agent_policy_id: POLICY, policy_revision_idx: current.revision }).then((res) => {
        answeredAt.push(Date.now());
        return res;
      }),
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(answeredAt, 'no poll answered before the change').to.have.length(0);
    await management('PUT', `/api/fleet/agent_policies/${POLICY}`, { description: 'rollout' });
    const changed = Date.now();
    const answers = await Promise.all(polls);
    for (const res of answers) {
      const changes = (res.actions ?? []).filter((x) => x.type === 'POLICY_CHANGE');
      expect(changes.map((c) => c.id)).to.deep.equal([`policy:${POLICY}:${current.revision + 1}`]);
    }
    const slowest = Math.max(...answeredAt) - changed;
    process.stderr.write(`policy rollout to ${FLEET_SIZE} agents over 3 gateways: p100 ${slowest} ms after the management API answered\n`);
    expect(slowest, `p100 ${slowest} ms`).to.be.lessThan(1000);
    for (const [i, a] of fleet.entries()) await ackAll(a, answers[i] as CheckinResponse);
  });

  it('When an action targets a subset of agents, then exactly that subset receives it, whichever replica holds them', async () => {
    const fleet = agents.slice(1, 1 + FLEET_SIZE);
    const subset = new Set(fleet.slice(0, 20).map((a) => a.agentId));
    const revision = ((await management('GET', `/api/fleet/agent_policies/${POLICY}`)).item as { revision: number }).revision;
    const answered = new Set<string>();
    const polls = fleet.map((a) =>
      a.checkin({ status: 'online', message: '', agent_policy_id: POLICY, policy_revision_idx: revision }).then((res) => {
        answered.add(a.agentId ?? '');
        return { agent: a, res };
      }),
    );
    await new Promise((r) => setTimeout(r, 1500));
    for (const id of subset) await management('POST', `/api/fleet/agents/${id}/actions`, { action: { type: 'REQUEST_DIAGNOSTICS' } });
    const deadline = Date.now() + 5000;
    while (answered.size < subset.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    expect([...answered].sort()).to.deep.equal([...subset].sort());
    // Release the other polls with a policy change.
    await management('PUT', `/api/fleet/agent_policies/${POLICY}`, { description: 'release' });
    for (const { agent, res } of await Promise.all(polls)) {
      const types = (res.actions ?? []).map((x) => x.type);
      expect(types, agent.agentId).to.deep.equal(subset.has(agent.agentId) ? ['REQUEST_DIAGNOSTICS'] : ['POLICY_CHANGE']);
    }
  });
});
