import { FleetAgentClient, type CheckinResponse } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { startTopology, type Replica, type Topology } from '../../../deploy/topology/local-topology';
import { startRedis, stopRedis } from '../../../libs/notifications/test/support/redis-server';
import { openTestStore } from '../../../libs/store/test/support/elasticsearch-env';
import { wipeFleetIndices } from './support/elasticsearch-admin';
import { eventually, localMetadata } from './support/fleet-server-harness';
import { seriesValue } from './support/prometheus-text';

const POLICY = 'fleet-default-policy';
/**
 * The gateways' auth cache TTL. Short in CI; `FLEET_TEST_AUTH_TTL_MS=60000` measures the
 * default (the figure in docs/reliability.md).
 */
const TTL_MS = Number(process.env.FLEET_TEST_AUTH_TTL_MS ?? 3_000);
/** How often a gateway looks for held polls due for verification (verificationTick of the TTL). */
const TICK_MS = Math.min(5_000, Math.max(250, Math.floor(TTL_MS / 4)));
/** Long polls far longer than the TTL: a poll that ends was ended, not timed out. */
const LONG_POLL_MS = Math.max(60_000, TTL_MS * 3);

interface Held {
  gateway: string;
  answered: Promise<{ status: number; at: number; body: unknown }>;
}

describe('Revocation across replicas: 3 gateways on Elasticsearch and Redis', function () {
  this.timeout(180_000 + 6 * TTL_MS);
  let topo: Topology;
  let gateways: Replica[];
  let admin: Record<string, string>;
  let token: string;
  // Through haproxy over TLS (the topology's CA); straight to a replica as haproxy does (its client certificate).
  let httpAgent: HttpsAgent;
  let replicaAgent: HttpsAgent;
  const clients: FleetAgentClient[] = [];

  const management = async (method: string, path: string, body?: unknown) => {
    const res = await topo.fetch(path, { method, headers: admin, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };

  /** The agent as seen by one replica: the same identity, sent straight to that replica's port. */
  const on = (agent: FleetAgentClient, replica: Replica): FleetAgentClient => {
    const c = new FleetAgentClient({ url: `https://127.0.0.1:${replica.port}`, httpAgent: replicaAgent });
    c.agentId = agent.agentId;
    c.accessApiKey = agent.accessApiKey;
    clients.push(c);
    return c;
  };
  const keyIdOf = (agent: FleetAgentClient) => Buffer.from(agent.accessApiKey ?? '', 'base64').toString().split(':')[0] ?? '';
  const revision = async () => ((await management('GET', `/api/fleet/agent_policies/${POLICY}`)).item as { revision: number }).revision;

  /** An enrolled agent running the current revision, its key verified (so cached) on every gateway. */
  async function enrolledEverywhere(): Promise<FleetAgentClient> {
    const agent = new FleetAgentClient({ url: topo.url, httpAgent });
    await agent.enroll(token, { type: 'PERMANENT', metadata: { local: localMetadata() } });
    clients.push(agent);
    const first: CheckinResponse = await agent.checkin({ status: 'online', message: '' });
    await agent.ack((first.actions ?? []).map((x) => ({ action_id: x.id, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' })));
    for (const g of gateways) expect((await on(agent, g).ack([])).status, g.name).to.equal(200);
    return agent;
  }

  /** A long poll on every gateway, with nothing to deliver (the agent runs the current revision). */
  async function holdEverywhere(agent: FleetAgentClient): Promise<Held[]> {
    const current = await revision();
    const held = gateways.map((g) => ({
      gateway: g.name,
      answered: on(agent, g)
        .call('POST', `/api/fleet/agents/${agent.agentId}/checkin`, { status: 'online', message: '', agent_policy_id: POLICY, policy_revision_idx: current }, `ApiKey ${agent.accessApiKey}`, {}, true)
        .then((r) => ({ status: r.status, at: Date.now(), body: r.body })),
    }));
    const early = await Promise.race([Promise.any(held.map((h) => h.answered)), new Promise((r) => setTimeout(() => r(undefined), 1_000))]);
    expect(early, 'a poll answered before the revocation').to.equal(undefined);
    return held;
  }

  /**
   * ms from `from` until the key is refused (401) on every gateway, probing each every 20 ms; with
   * how many requests it took (1: the first request after `from` was refused).
   */
  async function refusedEverywhere(agent: FleetAgentClient, from: number, boundMs: number): Promise<Record<string, string>> {
    const figures: Record<string, string> = {};
    await Promise.all(
      gateways.map(async (g) => {
        const c = on(agent, g);
        for (let attempt = 1; ; attempt++) {
          const res = await c.ack([]);
          if (res.status === 401) {
            figures[g.name] = `${Date.now() - from} ms (${attempt} request${attempt > 1 ? 's' : ''})`;
            return;
          }
          expect(res.status, g.name).to.equal(200);
          if (Date.now() - from > boundMs) throw new Error(`${g.name} still accepts the key ${Date.now() - from} ms later`);
          await new Promise((r) => setTimeout(r, 20));
        }
      }),
    );
    return figures;
  }

  const report = (what: string, figures: Record<string, number | string>) =>
    process.stderr.write(`${what} (TTL ${TTL_MS} ms): ${Object.entries(figures).map(([k, v]) => `${k} ${typeof v === 'number' ? `${v} ms` : v}`).join(', ')}\n`);

  before(async () => {
    await wipeFleetIndices();
    topo = await startTopology({
      elasticsearch: { url: process.env.FLEET_ES_URL ?? '', serviceTokenFile: process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '', caFile: process.env.FLEET_ES_CA_FILE },
      redisUrl: process.env.FLEET_TEST_REDIS_URL ?? '',
      fromSource: true,
      env: {
        FLEET_AUTH_CACHE_TTL_MS: String(TTL_MS),
        FLEET_CHECKIN_LONG_POLL_MS: String(LONG_POLL_MS),
        FLEET_CHECKIN_JITTER_MS: '0',
        FLEET_PBKDF2_ITERATIONS: '1000',
        FLEET_BUS_CHANNEL: `revocation-${process.pid}`,
        FLEET_JOBS_QUEUE: `revocation-jobs-${process.pid}`,
        FLEET_LOG_LEVEL: process.env.FLEET_LOG_LEVEL ?? 'warn',
      },
    });
    httpAgent = new HttpsAgent({ keepAlive: true, maxSockets: 200, ca: topo.ca });
    replicaAgent = new HttpsAgent({ keepAlive: true, maxSockets: 200, ...topo.proxyTls });
    gateways = topo.replicas.filter((r) => r.service === 'checkin-gateway');
    expect(gateways).to.have.length(3);
    admin = { Authorization: `Bearer ${readFileSync(join(topo.dataDir, 'admin-token'), 'utf8').trim()}`, 'Content-Type': 'application/json' };
    token = readFileSync(join(topo.dataDir, 'enrollment-token'), 'utf8').trim();
  });
  after(async () => {
    for (const c of clients) c.close();
    httpAgent?.destroy();
    replicaAgent?.destroy();
    await topo?.close();
  });

  it('When an agent is force-unenrolled, then through the bus every gateway ends its polls with 401 and refuses its key within 1 s', async () => {
    const agent = await enrolledEverywhere();
    const held = await holdEverywhere(agent);
    const requested = Date.now();
    await management('POST', `/api/fleet/agents/${agent.agentId}/unenroll`, { revoke: true });
    const answered = Date.now();
    const refused = await refusedEverywhere(agent, answered, 1_000);
    const ends = await Promise.all(held.map((h) => h.answered));
    const ended: Record<string, number> = {};
    for (const [i, e] of ends.entries()) {
      expect(e.status, held[i]?.gateway).to.equal(401);
      ended[held[i]?.gateway ?? ''] = e.at - answered;
    }
    // Negative: the poll ended before the management API's answer reached the test.
    report(`bus: held polls ended after the unenroll answered (it took ${answered - requested} ms)`, ended);
    report('bus: fresh requests refused after the unenroll answered', refused);
    for (const [g, ms] of Object.entries(ended)) expect(ms, g).to.be.lessThan(1_000);
  });

  describe('with Redis down (no notification reaches the gateways)', () => {
    const subscriberUp = async (g: Replica) => seriesValue(await (await fetch(`http://127.0.0.1:${g.metricsPort}/metrics`)).text(), 'fleet_redis_connected', { connection: 'bus-subscriber' });
    let agents: FleetAgentClient[];
    let held: Held[][];
    let heldSince: number;

    before(async () => {
      // Agents enrolled, keys cached and polls held while Redis is up; then Redis goes.
      agents = [await enrolledEverywhere(), await enrolledEverywhere()];
      held = [];
      heldSince = Date.now();
      for (const a of agents) held.push(await holdEverywhere(a));
      await stopRedis();
      await eventually(async () => (await Promise.all(gateways.map(subscriberUp))).every((v) => v === 0), 10_000, 100);
    });
    after(async () => {
      await startRedis();
      await eventually(async () => (await Promise.all(gateways.map(subscriberUp))).every((v) => v === 1), 15_000, 100);
    });

    it('When an agent is force-unenrolled, then every gateway refuses its key at once and ends its held polls within the auth cache TTL', async () => {
      const [agent] = agents;
      const [polls] = held;
      if (!agent || !polls) throw new Error('no agent');
      const requested = Date.now();
      await management('POST', `/api/fleet/agents/${agent.agentId}/unenroll`, { revoke: true });
      const answered = Date.now();
      // The agent document is read on every request: no cache stands between it and the refusal.
      const refused = await refusedEverywhere(agent, answered, 1_000);
      const ends = await Promise.all(polls.map((h) => h.answered));
      const ended: Record<string, number> = {};
      for (const [i, e] of ends.entries()) {
        expect(e.status, polls[i]?.gateway).to.equal(401);
        ended[polls[i]?.gateway ?? ''] = e.at - requested;
      }
      report(`redis down: held polls (held since ${requested - heldSince} ms before) ended after the unenroll was sent (it took ${answered - requested} ms)`, ended);
      report('redis down: fresh requests refused after the unenroll answered', refused);
      // A held poll is verified again at most TTL + one tick after it last was, so after the revocation.
      for (const [i, e] of ends.entries()) expect(e.at - requested, polls[i]?.gateway).to.be.lessThan(TTL_MS + TICK_MS + 1_000);
    });

    it('When a key is invalidated outside Fleet (Elasticsearch), then every gateway refuses it and ends its held polls within the auth cache TTL', async () => {
      const [, agent] = agents;
      const [, polls] = held;
      if (!agent || !polls) throw new Error('no agent');
      // Cached afresh on every gateway just before: the full TTL stands between it and the refusal.
      for (const g of gateways) expect((await on(agent, g).ack([])).status, g.name).to.equal(200);
      const store = await openTestStore();
      try {
        await store.credentials.invalidate([keyIdOf(agent)]);
      } finally {
        await store.close();
      }
      const invalidated = Date.now();
      const refused = await refusedEverywhere(agent, invalidated, TTL_MS + 1_000);
      const ends = await Promise.all(polls.map((h) => h.answered));
      const ended: Record<string, number> = {};
      for (const [i, e] of ends.entries()) {
        expect(e.status, polls[i]?.gateway).to.equal(401);
        ended[polls[i]?.gateway ?? ''] = e.at - invalidated;
      }
      report('redis down: key invalidated in Elasticsearch, fresh requests refused after', refused);
      report(`redis down: key invalidated in Elasticsearch, held polls (held ${invalidated - heldSince} ms before) ended after`, ended);
      for (const [i, e] of ends.entries()) expect(e.at - invalidated, polls[i]?.gateway).to.be.lessThan(TTL_MS + TICK_MS + 1_000);
    });
  });
});
