import { FleetAgentClient, type CheckinRequest, type CheckinResponse } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { Agent as HttpsAgent } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTopology, type Topology } from '../../../deploy/topology/local-topology';
import { BullMqJobQueue } from '@fleet/background-jobs';
import { openTestStore } from '../../../libs/store/test/support/elasticsearch-env';
import { wipeFleetIndices } from './support/elasticsearch-admin';
import { ackAll, eventually, localMetadata } from './support/fleet-server-harness';
import { Jaeger } from './support/jaeger';
import { OtlpReceiver, SPAN_KIND, type ReceivedSpan } from './support/otlp-receiver';
import { seriesValue } from './support/prometheus-text';
import { startRedis, stopRedis } from '../../../libs/notifications/test/support/redis-server';

const POLICY = 'fleet-default-policy';
const FLEET_SIZE = 200;
const JOBS_QUEUE = `topology-jobs-${process.pid}`;

describe('Scaled out: 3 gateways, 2 enrollment, 2 dispatchers behind haproxy, on Elasticsearch and Redis', function () {
  this.timeout(180_000);
  let topo: Topology;
  let admin: Record<string, string>;
  // Agents reach haproxy over TLS, trusting the topology's CA (made when it starts).
  let httpAgent: HttpsAgent;
  const agents: FleetAgentClient[] = [];
  let otlp: OtlpReceiver;
  let jaeger: Jaeger;

  const management = async (method: string, path: string, body?: unknown) => {
    const res = await topo.fetch(path, { method, headers: admin, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  before(async function () {
    // The first run on a machine builds Jaeger from its Go module (see deploy-tools.ts).
    this.timeout(75 * 60_000);
    await wipeFleetIndices();
    // Spans go to Jaeger, which stores them and forwards them to the receiver: the assertions below
    // read them both ways (every span as sent, and the traces as Jaeger's query API answers them).
    otlp = await OtlpReceiver.start();
    jaeger = await Jaeger.start({ forwardTo: otlp.endpoint });
    topo = await startTopology({
      elasticsearch: { url: process.env.FLEET_ES_URL ?? '', serviceTokenFile: process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '', caFile: process.env.FLEET_ES_CA_FILE },
      redisUrl: process.env.FLEET_TEST_REDIS_URL ?? '',
      fromSource: true,
      env: {
        FLEET_CHECKIN_LONG_POLL_MS: '30000',
        FLEET_CHECKIN_JITTER_MS: '0',
        FLEET_PBKDF2_ITERATIONS: '1000',
        // Slow feed polls: fast deliveries below can only come from the Redis notifications.
        FLEET_FEED_POLL_INTERVAL_MS: '10000',
        FLEET_BUS_CHANNEL: `topology-${process.pid}`,
        FLEET_JOBS_QUEUE: JOBS_QUEUE,
        // A fast repeatable job, to count its runs across the two dispatchers.
        FLEET_ACTION_SWEEP_INTERVAL_MS: '1000',
        FLEET_LOG_LEVEL: process.env.FLEET_LOG_LEVEL ?? 'warn',
        // Every replica traces to Jaeger, as in docker-compose.yml (OTLP/HTTP, protobuf).
        FLEET_TRACING_ENABLED: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      },
    });
    admin = { Authorization: `Bearer ${readFileSync(join(topo.dataDir, 'admin-token'), 'utf8').trim()}`, 'Content-Type': 'application/json' };
    httpAgent = new HttpsAgent({ keepAlive: true, maxSockets: 1000, ca: topo.ca });
  });
  after(async () => {
    for (const a of agents) a.close();
    httpAgent?.destroy();
    await topo?.close();
    await jaeger?.close();
    await otlp?.close();
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

  it('When a policy changes, then its rollout is one trace from the management API write through a dispatcher to every gateway, and each delivery links to it', async () => {
    const fleet = agents.slice(1, 31);
    const current = (await management('GET', `/api/fleet/agent_policies/${POLICY}`)).item as { revision: number };
    const polls = fleet.map((a) => a.checkin({ status: 'online', message: '', agent_policy_id: POLICY, policy_revision_idx: current.revision }));
    await new Promise((r) => setTimeout(r, 1000));
    await management('PUT', `/api/fleet/agent_policies/${POLICY}`, { description: 'traced rollout' });
    const answers = await Promise.all(polls);
    const heldBy = new Set(fleet.map((a) => String(a.lastResponseHeaders['x-fleet-replica'])));
    for (const [i, a] of fleet.entries()) await ackAll(a, answers[i] as CheckinResponse);
    const revision = current.revision + 1;

    const byId = (trace: ReceivedSpan[]) => new Map(trace.map((s) => [s.spanId, s]));
    const rootOf = (trace: ReceivedSpan[], span: ReceivedSpan) => {
      const index = byId(trace);
      let at = span;
      for (let parent = index.get(at.parentSpanId); parent; parent = index.get(at.parentSpanId)) at = parent;
      return at;
    };
    // Every dispatcher announces a new revision: the one that handled the write at once, in the
    // write's trace; the other when its timer pass reads the feed, in a trace of its own (it did
    // not see the write). The announcement followed here is the one in the write's trace.
    const announcements = () => otlp.spans.filter((s) => s.name === 'fleet.notify policy-revision' && s.attributes['fleet.policy.revision'] === revision);
    const announce = await eventually(
      () =>
        announcements().find((s) => {
          const root = rootOf(otlp.trace(s.traceId), s);
          return root.kind === SPAN_KIND.SERVER && /^PUT /.test(root.name);
        }),
      15_000,
      100,
    );
    // Every gateway (all three, not only those holding polls) handled the notification in that trace.
    const consumers = await eventually(() => {
      const found = otlp.trace(announce.traceId).filter((s) => s.name === 'fleet.notification policy-revision' && s.kind === SPAN_KIND.CONSUMER);
      return new Set(found.map((s) => s.instance)).size === 3 ? found : undefined;
    }, 15_000, 100);
    expect(consumers.every((c) => c.service === 'checkin-gateway' && c.parentSpanId === announce.spanId)).to.equal(true);
    const trace = otlp.trace(announce.traceId);
    const root = rootOf(trace, announce);
    expect(root.service).to.equal('policy-dispatcher');
    expect(root.kind).to.equal(SPAN_KIND.SERVER);
    expect(root.name).to.match(/^PUT /);
    expect(root.instance).to.equal(announce.instance);
    // Its pieces: Express routing, the Elasticsearch writes, the Redis PUBLISH.
    expect(trace.some((s) => s.scope.includes('express') && s.service === 'policy-dispatcher'), 'express span').to.equal(true);
    expect(trace.some((s) => s.kind === SPAN_KIND.CLIENT && s.attributes['db.system'] === 'elasticsearch'), 'elasticsearch span').to.equal(true);
    expect(trace.some((s) => s.scope.includes('ioredis') && /publish/i.test(s.name)), 'redis publish span').to.equal(true);

    // The same rollout as Jaeger stored it, found through its query API: one trace, rooted in the
    // management API's PUT on a dispatcher, holding the consumer span of every gateway.
    const gatewayNames = topo.replicas.filter((r) => r.service === 'checkin-gateway').map((r) => r.name).sort();
    const rollout = await eventually(async () => {
      const traces = await jaeger.findTraces({ service: 'policy-dispatcher', operation: 'fleet.notify policy-revision', limit: 100 });
      const found = traces.find((spans) =>
        spans.some((s) => s.operationName === 'fleet.notify policy-revision' && Number(s.tags['fleet.policy.revision']) === revision) &&
        spans.some((s) => !s.parentSpanID && s.kind === 'server' && /^PUT /.test(s.operationName)),
      );
      const consumed = new Set(found?.filter((s) => s.operationName === 'fleet.notification policy-revision' && s.kind === 'consumer').map((s) => s.instance));
      return found && consumed.size === gatewayNames.length ? found : undefined;
    }, 20_000, 250);
    expect(rollout[0]?.traceID).to.equal(announce.traceId);
    expect(await jaeger.trace(announce.traceId), 'GET /api/traces/{id}').to.have.length(rollout.length);
    const roots = rollout.filter((s) => !rollout.some((p) => p.spanID === s.parentSpanID));
    expect(roots.map((r) => `${r.service} ${r.kind} ${r.operationName.split(' ')[0]}`)).to.deep.equal(['policy-dispatcher server PUT']);
    const jaegerAnnounce = rollout.find((s) => s.spanID === announce.spanId);
    expect(jaegerAnnounce?.instance).to.equal(roots[0]?.instance);
    const jaegerConsumers = rollout.filter((s) => s.operationName === 'fleet.notification policy-revision');
    expect(jaegerConsumers.every((c) => c.service === 'checkin-gateway' && c.parentSpanID === announce.spanId)).to.equal(true);
    expect([...new Set(jaegerConsumers.map((c) => c.instance))].sort()).to.deep.equal(gatewayNames);
    expect(new Set(rollout.map((s) => s.service))).to.deep.equal(new Set(['policy-dispatcher', 'checkin-gateway']));

    // The fan-out: each agent's delivery is in its own checkin's trace, linked to the consumer span
    // of the notification that woke it on its gateway (whichever dispatcher's came first).
    // A gateway whose own feed read (the fallback for a lost notification) saw the revision first
    // wakes its polls from that read; those deliveries link to its span instead.
    const consumerIds = () => {
      const announced = new Set(announcements().map((a) => a.spanId));
      return new Map(
        otlp.spans
          .filter(
            (s) =>
              (s.name === 'fleet.notification policy-revision' && s.kind === SPAN_KIND.CONSUMER && announced.has(s.parentSpanId)) ||
              (s.name === 'fleet.feed policy-revision' && s.attributes['fleet.policy.revision'] === revision),
          )
          .map((c) => [c.spanId, c]),
      );
    };
    const deliveries = await eventually(() => {
      const ids = consumerIds();
      const found = otlp.spans.filter((s) => s.name === 'fleet.checkin.deliver' && s.links.some((l) => ids.has(l.spanId)));
      return found.length >= fleet.length ? found : undefined;
    }, 15_000, 100);
    expect(deliveries).to.have.length(fleet.length);
    // Spans are exported in batches: a checkin's server span can arrive after its delivery span.
    await eventually(() => deliveries.every((d) => rootOf(otlp.trace(d.traceId), d).kind === SPAN_KIND.SERVER), 15_000, 100).catch(() => undefined);
    const ids = consumerIds();
    for (const d of deliveries) {
      const consumer = ids.get(d.links.find((l) => ids.has(l.spanId))?.spanId ?? '');
      expect(consumer?.instance, 'delivered by the replica that consumed the notification').to.equal(d.instance);
      expect(d.traceId).to.not.equal(announce.traceId);
      const checkinRoot = rootOf(otlp.trace(d.traceId), d);
      expect(checkinRoot.kind).to.equal(SPAN_KIND.SERVER);
      expect(checkinRoot.name).to.match(/^POST .*checkin/);
    }
    expect(new Set(deliveries.map((d) => d.instance))).to.deep.equal(heldBy);
  });

  it('When an agent is force-unenrolled, then the key-revocation job runs in the request\'s trace, through BullMQ', async () => {
    const token = readFileSync(join(topo.dataDir, 'enrollment-token'), 'utf8').trim();
    const doomed = new FleetAgentClient({ url: topo.url, httpAgent });
    await doomed.enroll(token, { type: 'PERMANENT', metadata: { local: localMetadata() } });
    doomed.close();
    await management('POST', `/api/fleet/agents/${doomed.agentId}/unenroll`, { revoke: true });
    const request = await eventually(
      () => otlp.spans.find((s) => s.kind === SPAN_KIND.SERVER && s.name.startsWith('POST ') && s.attributes['url.path'] === `/api/fleet/agents/${doomed.agentId}/unenroll`),
      15_000,
      100,
    );
    const jobSpans = await eventually(() => {
      const spans = otlp.trace(request.traceId).filter((s) => s.scope === 'fleet-jobs');
      return spans.some((s) => s.kind === SPAN_KIND.PRODUCER) && spans.some((s) => s.kind === SPAN_KIND.CONSUMER) ? spans : undefined;
    }, 20_000, 100);
    const worker = jobSpans.find((s) => s.kind === SPAN_KIND.CONSUMER);
    expect(worker?.service).to.equal('policy-dispatcher');
    // The revocation itself (Elasticsearch's invalidate API key) is part of the same trace.
    expect(otlp.trace(request.traceId).some((s) => s.attributes['db.system'] === 'elasticsearch' && /invalidate/i.test(s.name)), 'invalidate span').to.equal(true);
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

  /** What the real agent does: on an error it tries again (here after 200 ms, bounded). */
  async function checkinRetrying(a: FleetAgentClient, body: CheckinRequest): Promise<CheckinResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await a.checkin(body);
      } catch (err) {
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  it('When two dispatchers run the background jobs, then each key revocation runs once and a repeatable job once per period, not once per dispatcher', async () => {
    const token = readFileSync(join(topo.dataDir, 'enrollment-token'), 'utf8').trim();
    const doomed = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const a = new FleetAgentClient({ url: topo.url, httpAgent });
        await a.enroll(token, { type: 'PERMANENT', metadata: { local: localMetadata() } });
        return a;
      }),
    );
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const jobs = new BullMqJobQueue({ url: process.env.FLEET_TEST_REDIS_URL ?? '', queueName: JOBS_QUEUE, retry: { attempts: 1, backoffMs: 1 }, concurrency: 1, logger: quiet });
    const store = await openTestStore();
    try {
      // Revocations of earlier tests are not this test's.
      const earlier = new Set((await jobs.finished('revoke-api-keys')).map((j) => j.id));
      // haproxy spreads these over both dispatchers; each enqueues a revocation job.
      for (const a of doomed) await management('POST', `/api/fleet/agents/${a.agentId}/unenroll`, { revoke: true });
      const keyIds = doomed.map((a) => Buffer.from(a.accessApiKey ?? '', 'base64').toString().split(':')[0] ?? '');
      await eventually(async () => (await Promise.all(keyIds.map((id) => store.credentials.get(id)))).every((k) => k?.invalidated), 20_000);
      const revocations = (await jobs.finished('revoke-api-keys')).filter((j) => !earlier.has(j.id));
      expect(revocations).to.have.length(20);
      expect(revocations.every((j) => j.state === 'completed' && j.attempts === 1), JSON.stringify(revocations)).to.equal(true);

      // Both dispatchers upserted the same schedulers: one of each.
      expect((await jobs.schedules()).map((x) => x.id).sort()).to.deep.equal(['expire-abandoned-uploads', 'gc-expired-actions', 'sample-agent-status', 'sweep-inactive-agents']);
      const from = Date.now();
      await new Promise((r) => setTimeout(r, 5_000));
      const runs = (await jobs.finished('gc-expired-actions')).filter((j) => (j.processedOn ?? 0) >= from).map((j) => j.processedOn ?? 0);
      // One run a second for 5 s; a schedule per dispatcher would give about twice as many.
      expect(runs.length, `gc runs: ${runs.length}`).to.be.within(3, 6);
      for (let i = 1; i < runs.length; i++) expect(runs[i]! - runs[i - 1]!, 'two runs in one period').to.be.greaterThan(500);
    } finally {
      for (const a of doomed) a.close();
      await jobs.close();
      await store.close();
    }
  });

  it('When a gateway is killed (SIGKILL) with agents connected, then they reconnect through haproxy and get everything pending exactly once', async () => {
    const fleet = agents.slice(1, 61);
    const revision = ((await management('GET', `/api/fleet/agent_policies/${POLICY}`)).item as { revision: number }).revision;
    const body = { status: 'online' as const, message: '', agent_policy_id: POLICY, policy_revision_idx: revision };
    const polls = fleet.map((a) => checkinRetrying(a, body));
    await new Promise((r) => setTimeout(r, 1000));
    await topo.kill('gateway-2');
    // Something for everyone while one replica is gone: an action per agent.
    const ids = new Map<string, string>();
    for (const a of fleet) {
      const res = await management('POST', `/api/fleet/agents/${a.agentId}/actions`, { action: { type: 'SETTINGS', data: { log_level: 'warning' } } });
      ids.set(a.agentId ?? '', (res.item as { id: string }).id);
    }
    const answers = await Promise.all(polls);
    for (const [i, a] of fleet.entries()) {
      let res = answers[i] as CheckinResponse;
      // A poll that was cut may have come back empty-handed: the next checkin brings what is pending.
      if (!res.actions?.length) res = await checkinRetrying(a, body);
      expect(res.actions?.map((x) => x.id), a.agentId).to.deep.equal([ids.get(a.agentId ?? '')]);
      expect((await ackAll(a, res)).status).to.equal(200);
    }
    // After the acks nothing is delivered again (probe with an action for the first agent only).
    const probe = fleet[0] as FleetAgentClient;
    const extra = await management('POST', `/api/fleet/agents/${probe.agentId}/actions`, { action: { type: 'SETTINGS', data: { log_level: 'info' } } });
    const next = await checkinRetrying(probe, body);
    expect(next.actions?.map((x) => x.id)).to.deep.equal([(extra.item as { id: string }).id]);
    await ackAll(probe, next);
    await topo.restart('gateway-2');
  });

  it('When Redis is killed and restarted during a rollout, then every agent still converges to the latest revision', async () => {
    const fleet = agents.slice(1, 61);
    const start = ((await management('GET', `/api/fleet/agent_policies/${POLICY}`)).item as { revision: number }).revision;
    const running = new Map<string, number>(fleet.map((a) => [a.agentId ?? '', start]));
    const dispatcher = topo.replicas.find((r) => r.name === 'dispatcher-1');
    const redisConnected = async (connection: string) =>
      seriesValue(await (await fetch(`http://127.0.0.1:${dispatcher?.metricsPort ?? 0}/metrics`)).text(), 'fleet_redis_connected', { connection });
    for (const c of ['bus-publisher', 'bus-subscriber', 'jobs-producer', 'jobs-worker']) expect(await redisConnected(c), c).to.equal(1);
    await stopRedis();
    try {
      // The metrics say so: what an alert on fleet_redis_connected would see.
      await eventually(async () => (await redisConnected('bus-publisher')) === 0 && (await redisConnected('jobs-worker')) === 0, 10_000, 100);
      // Two revisions while Redis is down (the dispatchers' notifications are lost) ...
      await management('PUT', `/api/fleet/agent_policies/${POLICY}`, { description: 'during the outage 1' });
      await management('PUT', `/api/fleet/agent_policies/${POLICY}`, { description: 'during the outage 2' });
    } finally {
      await startRedis();
    }
    await eventually(async () => (await redisConnected('bus-subscriber')) === 1 && (await redisConnected('jobs-worker')) === 1, 15_000, 100);
    // ... and one after it is back.
    await management('PUT', `/api/fleet/agent_policies/${POLICY}`, { description: 'after the outage' });
    const latest = start + 3;
    const deadline = Date.now() + 30_000;
    await Promise.all(
      fleet.map(async (a) => {
        while ((running.get(a.agentId ?? '') ?? 0) < latest && Date.now() < deadline) {
          const res = await checkinRetrying(a, { status: 'online', message: '', agent_policy_id: POLICY, policy_revision_idx: running.get(a.agentId ?? '') ?? 0 });
          const change = res.actions?.find((x) => x.type === 'POLICY_CHANGE');
          if (change) running.set(a.agentId ?? '', Number(change.id.split(':')[2]));
          await ackAll(a, res);
        }
      }),
    );
    expect([...running.values()].every((r) => r === latest), JSON.stringify([...running.values()])).to.equal(true);
  });
});
