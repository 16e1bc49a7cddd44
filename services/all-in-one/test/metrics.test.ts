import { expect } from 'chai';
import request from 'supertest';
import { enrollAgent, eventually, startHarness, type Harness } from './support/fleet-server-harness';

const POLICY = 'fleet-default-policy';

/** The value of an unlabelled-but-`service` series, e.g. `fleet_checkin_inflight_longpolls{service="fleet-server"} 3`. */
function gaugeValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('Prometheus metrics (separate listener)', function () {
  let h: Harness;
  before(async () => {
    h = await startHarness({ checkin: { longPollMs: 20_000, jitterMs: 0, minPollMs: 1000, timestampIntervalMs: 1000 } });
  });
  after(async () => h.stop());

  const scrape = async () => {
    const res = await fetch(h.server.metricsUrl ?? '');
    expect(res.status).to.equal(200);
    return res.text();
  };

  it('When open long polls come and go, then fleet_checkin_inflight_longpolls follows them', async () => {
    expect(gaugeValue(await scrape(), 'fleet_checkin_inflight_longpolls')).to.equal(0);
    const agents = await Promise.all([1, 2, 3].map(() => enrollAgent(h)));
    for (const a of agents) {
      const first = await a.checkin({ status: 'online', message: '' });
      await a.ack((first.actions ?? []).map((x) => ({ action_id: x.id, agent_id: a.agentId, timestamp: new Date().toISOString(), message: 'ok' })));
    }
    // Up to date now: these polls stay open.
    const polls = agents.map((a) => a.checkin({ status: 'online', message: '' }));
    await eventually(async () => gaugeValue(await scrape(), 'fleet_checkin_inflight_longpolls') === 3, 5_000);
    // A policy change answers them all.
    await request(h.url).put(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).send({ description: 'metrics' }).expect(200);
    await Promise.all(polls);
    await eventually(async () => gaugeValue(await scrape(), 'fleet_checkin_inflight_longpolls') === 0, 5_000);
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

  it('When anything but GET /metrics is asked of the metrics listener, then it answers 404 in the error shape', async () => {
    const res = await fetch((h.server.metricsUrl ?? '').replace('/metrics', '/other'));
    expect(res.status).to.equal(404);
    expect(await res.json()).to.deep.equal({ statusCode: 404, error: 'Not Found', message: 'only GET /metrics here' });
  });
});
