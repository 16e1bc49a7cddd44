import type { CheckinResponse, FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { request as httpRequest, type ClientRequest } from 'node:http';
import request from 'supertest';
import { ackAll, enrollAgent, eventually, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

const POLICY = 'fleet-default-policy';

interface Snapshot {
  kind: string;
  policy_id?: string;
  revision?: number;
  action_id?: string;
  action_type?: string;
  started_at: string;
  sampled_at: string;
  targeted: number;
  delivered: number;
  acknowledged: number;
  failed: number;
  complete: boolean;
  behind: { agent_id: string; hostname?: string; status: string; reason: string; error?: string; acked_revision?: number; last_checkin?: string }[];
  behind_total: number;
}

/** A server-sent event stream read with node:http: its status, headers, events and comments (bounded). */
interface Stream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The JSON body, when the answer is not a stream (an error). */
  body?: Record<string, unknown>;
  events: Snapshot[];
  comments: string[];
  ended: Promise<void>;
  /** Waits (bounded) until an event satisfies `check`; returns it. */
  until(check: (s: Snapshot) => boolean, timeoutMs?: number): Promise<Snapshot>;
  close(): void;
}

const MAX_STREAM_BYTES = 1024 * 1024;

function openStream(base: string, path: string, headers: Record<string, string>): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = httpRequest(new URL(path, base), { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const events: Snapshot[] = [];
      const comments: string[] = [];
      let buffer = '';
      let total = 0;
      let endStream: () => void = () => undefined;
      const ended = new Promise<void>((r) => (endStream = r));
      res.once('close', endStream);
      const stream: Stream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments,
        ended,
        async until(check, timeoutMs = 15_000) {
          return eventually(() => events.find(check), timeoutMs, 25);
        },
        close: () => req.destroy(),
      };
      if (!String(res.headers['content-type']).startsWith('text/event-stream')) {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.once('end', () => resolve({ ...stream, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
        return;
      }
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > MAX_STREAM_BYTES) {
          req.destroy(new Error('stream too long'));
          return;
        }
        buffer += chunk.toString('utf8');
        for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const lines = block.split('\n');
          for (const l of lines) if (l.startsWith(':')) comments.push(l);
          if (lines.includes('event: progress')) {
            const data = lines.find((l) => l.startsWith('data: '));
            if (data) events.push(JSON.parse(data.slice(6)) as Snapshot);
          }
        }
      });
      resolve(stream);
    });
    req.once('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}

const policyChangeOf = (res: CheckinResponse) => (res.actions ?? []).find((a) => a.type === 'POLICY_CHANGE');

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) {
  describe(`Rollout progress (all-in-one, ${backend} store)`, function () {
    this.timeout(90_000);
    const N = 4;
    let h: Harness;
    const agents: FleetAgentClient[] = [];

    before(async () => {
      h = await startHarness(
        { dispatch: { rolloutIntervalMs: 100, rolloutStreamMax: 3, rolloutStreamKeepaliveMs: 200, rolloutStreamMaxDurationMs: 60_000 } },
        undefined,
        backend,
      );
      for (let i = 0; i < N; i++) {
        const agent = await enrollAgent(h);
        agents.push(agent);
        await ackAll(agent, await agent.checkin({ status: 'online', message: 'Running' }));
      }
    });
    after(async () => {
      for (const a of agents) a.close();
      await h.stop();
    });

    const get = (path: string) => request(h.url).get(path).set(h.admin);
    const updatePolicy = async (description: string): Promise<number> => {
      const res = await request(h.url).put(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).send({ description }).expect(200);
      return (res.body as { item: { revision: number } }).item.revision;
    };

    it('When a policy revision rolls out, then the stream goes from 0/N to N/N; the agent that does not ack is pending, then offline once its last checkin is old', async () => {
      const revision = await updatePolicy('rollout one');
      const stream = await openStream(h.url, `/api/fleet/rollouts/policies/${POLICY}/stream?revision=${revision}`, h.admin);
      try {
        expect(stream.status).to.equal(200);
        expect(stream.headers['content-type']).to.match(/^text\/event-stream/);
        expect(stream.headers['cache-control']).to.equal('no-store');
        expect(stream.headers['x-accel-buffering']).to.equal('no');
        const first = await stream.until(() => true, 5_000);
        expect(first).to.include({ kind: 'policy', policy_id: POLICY, revision, targeted: N, delivered: 0, acknowledged: 0, failed: 0, complete: false, behind_total: N });
        expect(first.behind.map((b) => b.reason)).to.deep.equal(Array(N).fill('pending'));

        // All but the last apply it; the last is sent it and never acknowledges.
        const [late, ...others] = [...agents].reverse();
        for (const agent of others.reverse()) {
          const res = await agent.checkin({ status: 'online', message: 'Running' });
          expect(policyChangeOf(res)?.id).to.equal(`policy:${POLICY}:${revision}`);
          await ackAll(agent, res);
        }
        expect(policyChangeOf(await late!.checkin({ status: 'online', message: 'Running' }))?.id).to.equal(`policy:${POLICY}:${revision}`);
        const waiting = await stream.until((s) => s.acknowledged === N - 1 && s.delivered === N);
        expect(waiting).to.include({ targeted: N, failed: 0, complete: false, behind_total: 1 });
        expect(waiting.behind).to.have.length(1);
        expect(waiting.behind[0]).to.include({ agent_id: late!.agentId, reason: 'pending', status: 'updating', hostname: 'test-host', acked_revision: revision - 1 });

        // Its last checkin ages past the offline threshold (written as a checkin would, once the
        // batched status write of its checkin has landed).
        await eventually(async () => (await h.server.store.agents.get(late!.agentId!))?._source.last_checkin, 5_000);
        await new Promise((r) => setTimeout(r, 300));
        await h.server.store.agents.update(late!.agentId!, { last_checkin: new Date(Date.now() - 20 * 60_000).toISOString() });
        const offline = await stream.until((s) => s.behind[0]?.reason === 'offline');
        expect(offline.behind[0]).to.include({ agent_id: late!.agentId, status: 'offline' });

        await ackAll(late!, { actions: [{ id: `policy:${POLICY}:${revision}` } as never] });
        const done = await stream.until((s) => s.complete);
        expect(done).to.include({ targeted: N, delivered: N, acknowledged: N, failed: 0, behind_total: 0 });
        expect(done.behind).to.deep.equal([]);
        // Only changes are sent: no two events in a row carry the same state.
        const states = stream.events.map((e) => JSON.stringify({ ...e, sampled_at: undefined }));
        for (let i = 1; i < states.length; i++) expect(states[i], `event ${i}`).to.not.equal(states[i - 1]);
        expect(stream.comments).to.include(': keepalive');
      } finally {
        stream.close();
      }
      // The JSON snapshot, default revision = the latest.
      const latest = await get(`/api/fleet/rollouts/policies/${POLICY}`).expect(200);
      expect((latest.body as { item: Snapshot }).item).to.include({ revision, acknowledged: N, complete: true });
    });

    it('When an action is acknowledged with an error, then it counts as failed with its error', async () => {
      const target = agents[0]!;
      const created = await request(h.url)
        .post(`/api/fleet/agents/${target.agentId}/actions`)
        .set(h.admin)
        .send({ action: { type: 'SETTINGS', data: { log_level: 'debug' } } })
        .expect(200);
      const actionId = (created.body as { item: { id: string } }).item.id;
      const before = (await get(`/api/fleet/rollouts/actions/${actionId}`).expect(200)).body as { item: Snapshot };
      expect(before.item).to.include({ kind: 'action', action_id: actionId, action_type: 'SETTINGS', targeted: 1, acknowledged: 0, failed: 0, complete: false });

      const res = await target.checkin({ status: 'online', message: 'Running' });
      expect((res.actions ?? []).map((a) => a.id)).to.include(actionId);
      const ack = await target.ack([
        { type: 'ACTION_RESULT', subtype: 'FAILED', agent_id: target.agentId, action_id: actionId, message: 'failed', error: 'log level refused', timestamp: new Date().toISOString() },
      ]);
      expect(ack.status).to.equal(200);
      const after = await eventually(async () => {
        const item = ((await get(`/api/fleet/rollouts/actions/${actionId}`).expect(200)).body as { item: Snapshot }).item;
        return item.failed === 1 ? item : undefined;
      }, 10_000);
      expect(after).to.include({ targeted: 1, delivered: 1, acknowledged: 0, failed: 1, complete: true, behind_total: 1 });
      expect(after.behind[0]).to.include({ agent_id: target.agentId, reason: 'error', error: 'log level refused' });
    });

    it('When the rollout does not exist or the input is wrong, then the answer is the error shape (404, 400), for the stream too', async () => {
      const missing = await get('/api/fleet/rollouts/policies/no-such-policy').expect(404);
      expect(missing.body).to.deep.include({ statusCode: 404, error: 'Not Found' });
      await get(`/api/fleet/rollouts/policies/${POLICY}?revision=999`).expect(404);
      const bad = await get(`/api/fleet/rollouts/policies/${POLICY}?revision=abc`).expect(400);
      expect(bad.body).to.deep.include({ statusCode: 400, error: 'Bad Request' });
      await get('/api/fleet/rollouts/actions/no-such-action').expect(404);
      const stream = await openStream(h.url, '/api/fleet/rollouts/actions/no-such-action/stream', h.admin);
      expect(stream.status).to.equal(404);
      expect(stream.body).to.deep.include({ statusCode: 404, error: 'Not Found' });
      await request(h.url).get(`/api/fleet/rollouts/policies/${POLICY}`).expect(401);
      expect(h.server.dispatcher.rollouts.openStreams).to.equal(0);
    });

    it('When more streams than the cap are opened, then the next answers 429; streams share one computation; a client that leaves takes its timers and the watch with it', async () => {
      const path = `/api/fleet/rollouts/policies/${POLICY}/stream`;
      const streams = [await openStream(h.url, path, h.admin), await openStream(h.url, path, h.admin), await openStream(h.url, path, h.admin)];
      try {
        for (const s of streams) expect(s.status).to.equal(200);
        expect(h.server.dispatcher.rollouts.watchedRollouts).to.equal(1);
        // Three streams, one computation per tick (100 ms): about 10 a second, not 30.
        const computed = h.server.dispatcher.rollouts.computations;
        await new Promise((r) => setTimeout(r, 1_000));
        expect(h.server.dispatcher.rollouts.computations - computed).to.be.within(3, 12);
        const refused = await openStream(h.url, path, h.admin);
        expect(refused.status).to.equal(429);
        expect(refused.body).to.deep.include({ statusCode: 429, error: 'Too Many Requests' });
        streams.pop()?.close();
        await eventually(() => h.server.dispatcher.rollouts.openStreams === 2, 5_000);
        const again = await openStream(h.url, path, h.admin);
        expect(again.status).to.equal(200);
        streams.push(again);
      } finally {
        for (const s of streams) s.close();
      }
      await eventually(() => h.server.dispatcher.rollouts.openStreams === 0 && h.server.dispatcher.rollouts.watchedRollouts === 0, 5_000);
    });
  });
}

describe('Rollout progress across two replicas (Elasticsearch, Redis bus)', function () {
  this.timeout(90_000);
  let one: Harness;
  let two: Harness;
  let agent: FleetAgentClient;

  before(async () => {
    const redisUrl = process.env.FLEET_TEST_REDIS_URL;
    if (!redisUrl) throw new Error('FLEET_TEST_REDIS_URL is not set: the Redis fixture did not run');
    const shared = { bus: { backend: 'redis', redisUrl, channel: `rollout-${process.pid}` } };
    one = await startHarness(shared, undefined, 'elasticsearch');
    two = await startHarness(shared, one.dataDir, 'elasticsearch');
    agent = await enrollAgent(one);
    await ackAll(agent, await agent.checkin({ status: 'online', message: 'Running' }));
  });
  after(async () => {
    agent?.close();
    await two?.stop();
    await one?.stop();
  });

  it('When replica 1 sends an agent the revision, then replica 2 reports it delivered (the ledger is shared), and acknowledged once acked', async () => {
    const res = await request(one.url).put(`/api/fleet/agent_policies/${POLICY}`).set(one.admin).send({ description: 'two replicas' }).expect(200);
    const revision = (res.body as { item: { revision: number } }).item.revision;
    const stream = await openStream(two.url, `/api/fleet/rollouts/policies/${POLICY}/stream?revision=${revision}`, two.admin);
    try {
      expect(await stream.until(() => true)).to.include({ targeted: 1, delivered: 0, acknowledged: 0 });
      const change = await agent.checkin({ status: 'online', message: 'Running' });
      expect(policyChangeOf(change)?.id).to.equal(`policy:${POLICY}:${revision}`);
      // Not acknowledged: only the delivery record of replica 1 can say it was delivered.
      expect(await stream.until((s) => s.delivered === 1)).to.include({ acknowledged: 0, complete: false });
      await ackAll(agent, change);
      expect(await stream.until((s) => s.complete)).to.include({ targeted: 1, delivered: 1, acknowledged: 1 });
    } finally {
      stream.close();
    }
  });
});
