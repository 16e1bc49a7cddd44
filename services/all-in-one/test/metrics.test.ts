import { expect } from 'chai';
import request from 'supertest';
import { ackAll, enrollAgent, eventually, startHarness, type Harness } from './support/fleet-server-harness';
import { seriesValue } from './support/prometheus-text';

const POLICY = 'fleet-default-policy';

/** A counter's value, 0 before its first increment (its series appears then). */
const counted = (text: string, name: string, labels: Record<string, string> = {}): number => seriesValue(text, name, labels) ?? 0;

describe('Prometheus metrics (separate listener)', function () {
  let h: Harness;
  before(async () => {
    h = await startHarness({ checkin: { longPollMs: 20_000, jitterMs: 0, minPollMs: 1000, timestampIntervalMs: 1000 } });
  });
  after(async () => h?.stop());

  const scrape = async () => {
    const res = await fetch(h.server.metricsUrl ?? '');
    expect(res.status).to.equal(200);
    return res.text();
  };

  it('When open long polls come and go, then fleet_checkin_inflight_longpolls follows them', async () => {
    expect(seriesValue(await scrape(), 'fleet_checkin_inflight_longpolls')).to.equal(0);
    const agents = await Promise.all([1, 2, 3].map(() => enrollAgent(h)));
    for (const a of agents) {
      const first = await a.checkin({ status: 'online', message: '' });
      await a.ack((first.actions ?? []).map((x) => ({ action_id: x.id, agent_id: a.agentId, timestamp: new Date().toISOString(), message: 'ok' })));
    }
    // Up to date now: these polls stay open.
    const polls = agents.map((a) => a.checkin({ status: 'online', message: '' }));
    await eventually(async () => seriesValue(await scrape(), 'fleet_checkin_inflight_longpolls') === 3, 5_000);
    // A policy change answers them all.
    await request(h.url).put(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).send({ description: 'metrics' }).expect(200);
    await Promise.all(polls);
    await eventually(async () => seriesValue(await scrape(), 'fleet_checkin_inflight_longpolls') === 0, 5_000);
    for (const a of agents) a.close();
  });

  it('When requests are answered, then they are counted by route pattern and status, never by raw path', async () => {
    await request(h.url).get('/no-such-route/not-an-agent').expect(404);
    const text = await scrape();
    expect(text).to.match(/fleet_http_requests_total\{[^}]*route="[^"]*:id\/checkin"[^}]*status_code="200"[^}]*\} \d+/);
    expect(text).to.match(/fleet_http_requests_total\{[^}]*route="unmatched"[^}]*status_code="404"/);
    expect(text).to.not.match(/not-an-agent/);
    // Node's runtime metrics come along (event-loop lag, memory).
    expect(text).to.match(/nodejs_eventloop_lag_seconds\{service="fleet-server"\}/);
    expect(text).to.match(/process_resident_memory_bytes\{service="fleet-server"\}/);
  });

  it('When agents enroll, check in, ack and get a new revision, then the outcome counters and the rollout lag record it', async () => {
    const before = await scrape();
    const agent = await enrollAgent(h);
    await ackAll(agent, await agent.checkin({ status: 'online', message: '' }));
    const poll = agent.checkin({ status: 'online', message: '' });
    await eventually(async () => seriesValue(await scrape(), 'fleet_checkin_inflight_longpolls') === 1, 5_000);
    await request(h.url).put(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).send({ description: 'lag' }).expect(200);
    await ackAll(agent, await poll);
    const bad = h.agent();
    bad.agentId = agent.agentId;
    bad.accessApiKey = Buffer.from('nokey:nosecret').toString('base64');
    await bad.checkin({ status: 'online', message: '' }).catch(() => undefined);
    agent.close();
    bad.close();
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => counted(after, name, labels) - counted(before, name, labels);
    expect(delta('fleet_enrollments_total', { outcome: 'enrolled' })).to.equal(1);
    expect(delta('fleet_checkins_total', { outcome: 'delivered' })).to.equal(2);
    expect(delta('fleet_checkins_total', { outcome: 'rejected' })).to.equal(1);
    expect(delta('fleet_acks_total', { outcome: 'ok' })).to.equal(2);
    // Both deliveries were of revisions written moments before: well under 5 s after the write.
    expect(delta('fleet_policy_rollout_lag_seconds_count')).to.equal(2);
    expect(delta('fleet_policy_rollout_lag_seconds_bucket', { le: '5' })).to.equal(2);
    // The embedded store writes synchronously: nothing ever waits.
    expect(seriesValue(after, 'fleet_store_pending_writes')).to.equal(0);
  });

  it('When anything but GET /metrics is asked of the metrics listener, then it answers 404 in the error shape', async () => {
    const res = await fetch((h.server.metricsUrl ?? '').replace('/metrics', '/other'));
    expect(res.status).to.equal(404);
    expect(await res.json()).to.deep.equal({ statusCode: 404, error: 'Not Found', message: 'only GET /metrics here' });
  });
});

describe('Prometheus metrics: refusals and the Elasticsearch write path', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ limits: { status: { intervalMs: 60_000, burst: 2, max: 0 } } }, undefined, 'elasticsearch');
  });
  after(async () => h?.stop());
  const scrape = async () => (await fetch(h.server.metricsUrl ?? '')).text();

  it('When a route limit refuses requests, then fleet_http_refused_total counts them by route pattern and reason', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await request(h.url).get('/api/status')).status);
    expect(statuses.filter((s) => s === 429)).to.have.length(3);
    const text = await scrape();
    expect(counted(text, 'fleet_http_refused_total', { route: '/api/status', reason: 'rate_limit' })).to.equal(3);
  });

  it('When agents check in, then their grouped status writes show as bulk requests with durations, and the queue drains to zero', async () => {
    const before = await scrape();
    const agents = await Promise.all([1, 2, 3].map(() => enrollAgent(h)));
    for (const a of agents) await ackAll(a, await a.checkin({ status: 'online', message: '' }));
    for (const a of agents) a.close();
    const after = await eventually(async () => {
      const text = await scrape();
      return counted(text, 'fleet_store_bulk_duration_seconds_count', { outcome: 'ok' }) > counted(before, 'fleet_store_bulk_duration_seconds_count', { outcome: 'ok' }) &&
        seriesValue(text, 'fleet_store_pending_writes') === 0
        ? text
        : undefined;
    }, 10_000, 100);
    expect(counted(after, 'fleet_store_bulk_operations_total', { outcome: 'ok' })).to.be.greaterThan(counted(before, 'fleet_store_bulk_operations_total', { outcome: 'ok' }));
    expect(counted(after, 'fleet_store_bulk_duration_seconds_sum', { outcome: 'ok' })).to.be.greaterThan(0);
  });
});
