import type { FleetAgentClient } from '@fleet/agent-protocol';
import { StoreUnavailableError } from '@fleet/store';
import { expect } from 'chai';
import request from 'supertest';
import { enrollAgent, localMetadata, rawPost, startHarness, type Harness } from './support/fleet-server-harness';

const UA = 'Elastic Agent v9.1.0';

/** `{"a":{"a":…}}` nested `depth` levels deep, as JSON text. */
const deepJson = (depth: number): string => `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;

describe('One hostile agent or client cannot hurt the fleet (issue 12)', function () {
  let h: Harness;
  let agent: FleetAgentClient;
  let bystander: FleetAgentClient;
  let auth: string;

  before(async () => {
    h = await startHarness();
    agent = await enrollAgent(h);
    bystander = await enrollAgent(h);
    auth = `ApiKey ${agent.accessApiKey}`;
  });
  after(async () => {
    agent.close();
    bystander.close();
    await h.stop();
  });

  const checkin = (path: string, body: string) =>
    request(h.url).post(path).set('User-Agent', UA).set('Authorization', auth).set('Content-Type', 'application/json').send(body);

  describe('JSON nesting is bounded before anything parses it', function () {
    it('When local_metadata is nested 10,000 deep, then 400 and the status writes of other agents keep landing', async () => {
      const body = `{"status":"online","message":"","local_metadata":${deepJson(10_000)}}`;
      const res = await checkin(`/api/fleet/agents/${agent.agentId}/checkin`, body);
      expect(res.status).to.equal(400);
      expect(res.body).to.include({ statusCode: 400, error: 'BadRequest' });
      expect(res.body.message).to.match(/nested deeper than 64 levels/);

      const before = (await h.server.store.agents.get(bystander.agentId!))?._source.last_checkin;
      await new Promise((r) => setTimeout(r, 1100));
      await bystander.checkin({ status: 'online', message: 'fine', local_metadata: localMetadata('bystander'), poll_timeout: '1s' });
      await h.server.gateway.statusWrites.flush();
      const after = (await h.server.store.agents.get(bystander.agentId!))?._source.last_checkin;
      expect(after, 'bystander last_checkin moved').to.be.a('string').and.not.equal(before);
    });

    it('When components[].units[].payload or upgrade_details are nested 10,000 deep, then 400, never 500', async () => {
      const path = `/api/fleet/agents/${agent.agentId}/checkin`;
      const units = `{"status":"online","message":"","components":[{"id":"c","type":"t","status":"HEALTHY","units":[{"id":"u","type":"input","status":"HEALTHY","payload":${deepJson(10_000)}}]}]}`;
      const upgrade = `{"status":"online","message":"","upgrade_details":{"target_version":"9.1.0","action_id":"x","state":"UPG_DOWNLOADING","metadata":${deepJson(10_000)}}}`;
      for (const body of [units, upgrade]) {
        const res = await checkin(path, body);
        expect(res.status).to.equal(400);
        expect(res.body.message).to.match(/nested deeper/);
      }
    });

    it('When an enroll body is nested 10,000 deep, then 400 and no agent is created', async () => {
      const count = (await h.server.store.agents.query({ page: 1, perPage: 1, showInactive: true, now: new Date() })).total;
      const body = `{"type":"PERMANENT","metadata":{"local":${deepJson(10_000)}}}`;
      const res = await request(h.url)
        .post('/api/fleet/agents/enroll')
        .set('User-Agent', UA)
        .set('Authorization', `ApiKey ${h.enrollmentToken}`)
        .set('Content-Type', 'application/json')
        .send(body);
      expect(res.status).to.equal(400);
      expect((await h.server.store.agents.query({ page: 1, perPage: 1, showInactive: true, now: new Date() })).total).to.equal(count);
    });

    it('When management bodies (actions, policies) are nested 10,000 deep, then 400 Bad Request, never 500', async () => {
      const cases: Array<[string, string]> = [
        [`/api/fleet/agents/${agent.agentId}/actions`, `{"action":{"type":"SETTINGS","data":${deepJson(10_000)}}}`],
        ['/api/fleet/agent_policies', `{"name":"deep","namespace":"default","monitoring_enabled":${deepJson(10_000)}}`],
      ];
      for (const [path, body] of cases) {
        const res = await request(h.url).post(path).set(h.admin).set('Content-Type', 'application/json').send(body);
        expect(res.status, path).to.equal(400);
        expect(res.body).to.include({ statusCode: 400, error: 'Bad Request' });
      }
    });
  });

  it('When a path parameter is not valid percent-encoding (/agents/%ff/checkin), then 400 in the error shape', async () => {
    const res = await checkin('/api/fleet/agents/%ff/checkin', '{"status":"online","message":""}');
    expect(res.status).to.equal(400);
    expect(res.body).to.include({ statusCode: 400, error: 'BadRequest' });
    expect(h.logs.some((l) => l.includes('URIError') && l.includes('"level":50'))).to.equal(false);
  });

  describe('the key is checked before the body is read', function () {
    const madeUp = Buffer.from('made-up-id:made-up-secret').toString('base64');
    const notGzip = Buffer.from('this is not gzip at all');

    for (const route of ['checkin', 'acks', 'audit/unenroll']) {
      it(`When ${route} comes with a made-up key and a broken gzip body, then 401 (the body is never inflated)`, async () => {
        const res = await rawPost(
          h.url,
          `/api/fleet/agents/${agent.agentId}/${route}`,
          { 'User-Agent': UA, Authorization: `ApiKey ${madeUp}`, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
          notGzip,
        );
        expect(res.status).to.equal(401);
        expect(res.body).to.include({ error: 'ErrUnauthorized' });
      });
    }

    it('When enroll comes with a made-up enrollment key and a broken gzip body, then 401', async () => {
      const res = await rawPost(
        h.url,
        '/api/fleet/agents/enroll',
        { 'User-Agent': UA, Authorization: `ApiKey ${madeUp}`, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
        notGzip,
      );
      expect(res.status).to.equal(401);
    });
  });

  it('When an agent acks an action addressed to another agent, then that item is 404 and no result is stored', async () => {
    const created = await request(h.url)
      .post(`/api/fleet/agents/${bystander.agentId}/actions`)
      .set(h.admin)
      .send({ action: { type: 'SETTINGS', data: { log_level: 'debug' } } });
    expect(created.status).to.equal(200);
    const actionId = (created.body as { item: { id: string } }).item.id;
    const res = await request(h.url)
      .post(`/api/fleet/agents/${agent.agentId}/acks`)
      .set('User-Agent', UA)
      .set('Authorization', auth)
      .send({ events: [{ type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', agent_id: agent.agentId, action_id: actionId, message: 'mine now' }] });
    expect(res.status).to.equal(404);
    expect(res.body.items[0]).to.include({ status: 404 });
    expect(await h.server.store.actionResults.listByActionId(actionId)).to.have.length(0);
  });

  it("When an enrollment with another policy's token re-uses an agent's enrollment_id, then that agent is kept", async () => {
    const policy = await request(h.url).post('/api/fleet/agent_policies').set(h.admin).send({ name: 'other policy', namespace: 'default' });
    const key = await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: policy.body.item.id });
    const otherToken = (key.body as { item: { api_key: string } }).item.api_key;

    const first = h.agent();
    await first.enroll(h.enrollmentToken, { type: 'PERMANENT', enrollment_id: 'host-42', metadata: { local: localMetadata(), user_provided: {}, tags: [] } });
    const intruder = h.agent();
    await intruder.enroll(otherToken, { type: 'PERMANENT', enrollment_id: 'host-42', metadata: { local: localMetadata(), user_provided: {}, tags: [] } });
    expect(await h.server.store.agents.get(first.agentId!), 'the first agent survives').to.not.equal(undefined);

    // The same policy's token still replaces a ghost that never checked in (the retry case).
    const ghost = h.agent();
    await ghost.enroll(h.enrollmentToken, { type: 'PERMANENT', enrollment_id: 'host-43', metadata: { local: localMetadata(), user_provided: {}, tags: [] } });
    const retry = h.agent();
    await retry.enroll(h.enrollmentToken, { type: 'PERMANENT', enrollment_id: 'host-43', metadata: { local: localMetadata(), user_provided: {}, tags: [] } });
    expect(await h.server.store.agents.get(ghost.agentId!), 'the ghost is replaced').to.equal(undefined);
    for (const a of [first, intruder, ghost, retry]) a.close();
  });
});

describe('A failed enrollment leaves no agent behind (issue 12)', function () {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.stop());

  it('When the store writes the agent but its answer is lost, then the enrollment is 503 and the written document is removed', async () => {
    const agents = h.server.store.agents;
    const create = agents.create.bind(agents);
    let written: string | undefined;
    // The write lands, then the connection drops before the answer: what a store timeout looks like.
    agents.create = async (id, doc) => {
      await create(id, doc);
      written = id;
      throw new StoreUnavailableError('connection lost after the write');
    };
    try {
      const res = await request(h.url)
        .post('/api/fleet/agents/enroll')
        .set('User-Agent', UA)
        .set('Authorization', `ApiKey ${h.enrollmentToken}`)
        .send({ type: 'PERMANENT', metadata: { local: localMetadata('lost-answer'), tags: [] } });
      expect(res.status).to.equal(503);
    } finally {
      agents.create = create;
    }
    expect(written, 'the write happened').to.be.a('string');
    expect(await h.server.store.agents.get(written!)).to.equal(undefined);
  });
});

describe('Replace-token hashing runs on bounded concurrency (issue 12)', function () {
  let h: Harness;
  before(async () => {
    // Slow hashes, one at a time, one waiting: the rest must be refused at once.
    h = await startHarness({ enroll: { pbkdf2: { iterations: 400_000, concurrency: 1, maxQueued: 1 } } });
  });
  after(async () => h.stop());

  it('When many enrollments with replace_token arrive at once, then those past the queue get 429 with Retry-After', async () => {
    const attempts = Array.from({ length: 6 }, (_, i) =>
      request(h.url)
        .post('/api/fleet/agents/enroll')
        .set('User-Agent', UA)
        .set('Authorization', `ApiKey ${h.enrollmentToken}`)
        .send({ type: 'PERMANENT', id: `kdf-${i}`, replace_token: `token-${i}`, metadata: { local: localMetadata(), tags: [] } }),
    );
    const results = await Promise.all(attempts.map((a) => a.then((r) => r)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200).length, statuses.join(',')).to.be.at.least(2);
    const refused = results.filter((r) => r.status === 429);
    expect(refused.length, statuses.join(',')).to.be.at.least(1);
    for (const r of refused) {
      expect(r.headers['retry-after']).to.equal('1');
      expect(r.body).to.include({ statusCode: 429, error: 'TooManyRequests' });
    }
    // Nothing half-written: every refused id has no agent document.
    for (const [i, r] of results.entries()) {
      const doc = await h.server.store.agents.get(`kdf-${i}`);
      expect(doc !== undefined, `kdf-${i}`).to.equal(r.status === 200);
    }
  });
});
