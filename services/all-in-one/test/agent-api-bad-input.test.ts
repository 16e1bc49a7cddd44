import type { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { enrollAgent, localMetadata, rawPost, startHarness, type Harness } from './support/fleet-server-harness';

const UA = 'Elastic Agent v9.1.0';

describe('Agent API refuses bad input with clear errors and changes nothing', function () {
  let h: Harness;
  let agent: FleetAgentClient;
  let other: FleetAgentClient;
  let checkinPath: string;
  let auth: string;

  before(async () => {
    h = await startHarness();
    agent = await enrollAgent(h);
    other = await enrollAgent(h);
    checkinPath = `/api/fleet/agents/${agent.agentId}/checkin`;
    auth = `ApiKey ${agent.accessApiKey}`;
  });
  after(async () => {
    agent.close();
    other.close();
    await h.stop();
  });

  /** The agent document must be exactly as it was after every refused request. */
  async function unchanged<T>(fn: () => Promise<T>): Promise<T> {
    const before = await h.server.store.agents.get(agent.agentId!);
    const result = await fn();
    await h.server.gateway.statusWrites.flush();
    const after = await h.server.store.agents.get(agent.agentId!);
    expect(after?._seq_no, 'agent document changed').to.equal(before?._seq_no);
    return result;
  }

  const expectError = (res: request.Response, status: number, error: string) => {
    expect(res.status).to.equal(status);
    expect(res.body).to.include({ statusCode: status, error });
    expect(res.headers['content-type']).to.match(/^application\/json/);
  };

  it('When the Authorization header is missing, then 401 ErrNoAuthHeader', async () => {
    const res = await unchanged(() => request(h.url).post(checkinPath).set('User-Agent', UA).send({ status: 'online', message: '' }));
    expectError(res, 401, 'ErrNoAuthHeader');
  });

  it('When the Authorization scheme is not ApiKey, then 400 ErrMalformedHeader', async () => {
    const res = await unchanged(() =>
      request(h.url).post(checkinPath).set('User-Agent', UA).set('Authorization', 'Bearer abc').send({ status: 'online', message: '' }),
    );
    expectError(res, 400, 'ErrMalformedHeader');
  });

  it('When the ApiKey token does not decode to id:secret, then 400 ErrMalformedToken', async () => {
    const token = Buffer.from('no-colon-here').toString('base64');
    const res = await unchanged(() =>
      request(h.url).post(checkinPath).set('User-Agent', UA).set('Authorization', `ApiKey ${token}`).send({ status: 'online', message: '' }),
    );
    expectError(res, 400, 'ErrMalformedToken');
  });

  it('When the key secret is wrong, then 401 ErrUnauthorized', async () => {
    const [id] = Buffer.from(agent.accessApiKey!, 'base64').toString().split(':');
    const forged = Buffer.from(`${id}:wrong-secret`).toString('base64');
    const res = await unchanged(() =>
      request(h.url).post(checkinPath).set('User-Agent', UA).set('Authorization', `ApiKey ${forged}`).send({ status: 'online', message: '' }),
    );
    expectError(res, 401, 'ErrUnauthorized');
  });

  it("When an agent uses another agent's id with its own key, then 403 ErrAgentIdentity", async () => {
    const res = await unchanged(() =>
      request(h.url)
        .post(`/api/fleet/agents/${other.agentId}/checkin`)
        .set('User-Agent', UA)
        .set('Authorization', auth)
        .send({ status: 'online', message: '' }),
    );
    expectError(res, 403, 'ErrAgentIdentity');
  });

  it('When the enrollment token is used as an agent key, then 403 ErrAgentIdentity (it is not the key bound to the agent)', async () => {
    const res = await unchanged(() =>
      request(h.url)
        .post(checkinPath)
        .set('User-Agent', UA)
        .set('Authorization', `ApiKey ${h.enrollmentToken}`)
        .send({ status: 'online', message: '' }),
    );
    expectError(res, 403, 'ErrAgentIdentity');
  });

  it('When the User-Agent is not an Elastic Agent, then 400 InvalidUserAgent', async () => {
    const res = await unchanged(() => request(h.url).post(checkinPath).set('User-Agent', 'curl/8').set('Authorization', auth).send({ status: 'online', message: '' }));
    expectError(res, 400, 'InvalidUserAgent');
  });

  it('When the agent is newer than the server minor, then 400 UnsupportedVersion', async () => {
    const res = await unchanged(() =>
      request(h.url).post(checkinPath).set('User-Agent', 'Elastic Agent v9.7.0').set('Authorization', auth).send({ status: 'online', message: '' }),
    );
    expectError(res, 400, 'UnsupportedVersion');
  });

  it('When Elastic-Api-Version is malformed or unsupported, then 400', async () => {
    const bad = await request(h.url).get('/api/status').set('Elastic-Api-Version', 'yesterday');
    expectError(bad, 400, 'ErrInvalidAPIVersionFormat');
    const unsupported = await request(h.url).get('/api/status').set('Elastic-Api-Version', '2020-01-01');
    expectError(unsupported, 400, 'ErrUnsupportedAPIVersion');
    const ok = await request(h.url).get('/api/status').set('Elastic-Api-Version', '2023-06-01');
    expect(ok.headers['elastic-api-version']).to.equal('2023-06-01');
  });

  it('When the body is not JSON, then 400 BadRequest', async () => {
    const res = await unchanged(() =>
      request(h.url).post(checkinPath).set('User-Agent', UA).set('Authorization', auth).set('Content-Type', 'application/json').send('{"status":'),
    );
    expectError(res, 400, 'BadRequest');
  });

  it('When fields have wrong types or values, then 400 naming the field', async () => {
    const wrongType = await unchanged(() =>
      request(h.url).post(checkinPath).set('User-Agent', UA).set('Authorization', auth).send({ status: 'online', message: 42 }),
    );
    expectError(wrongType, 400, 'BadRequest');
    expect(wrongType.body.message).to.contain('message');
    const badStatus = await unchanged(() =>
      request(h.url).post(checkinPath).set('User-Agent', UA).set('Authorization', auth).send({ status: 'sleeping', message: '' }),
    );
    expectError(badStatus, 400, 'BadRequest');
    expect(badStatus.body.message).to.contain('status');
    const badPoll = await unchanged(() =>
      request(h.url).post(checkinPath).set('User-Agent', UA).set('Authorization', auth).send({ status: 'online', message: '', poll_timeout: 'forever' }),
    );
    expectError(badPoll, 400, 'BadRequest');
    expect(badPoll.body.message).to.contain('poll_timeout');
  });

  it('When upgrade_details has invalid metadata for its state, then 400 and nothing is written', async () => {
    const res = await unchanged(() =>
      request(h.url)
        .post(checkinPath)
        .set('User-Agent', UA)
        .set('Authorization', auth)
        .send({ status: 'online', message: '', upgrade_details: { target_version: '9.1.1', action_id: 'a', state: 'UPG_FAILED', metadata: {} } }),
    );
    expectError(res, 400, 'BadRequest');
    expect(res.body.message).to.contain('error_msg');
  });

  it('When the body is larger than the limit, then 413 before it is parsed', async () => {
    const huge = JSON.stringify({ status: 'online', message: 'x'.repeat(1024 * 1024 + 10) });
    const res = await unchanged(() =>
      request(h.url).post(checkinPath).set('User-Agent', UA).set('Authorization', auth).set('Content-Type', 'application/json').send(huge),
    );
    expectError(res, 413, 'ErrPayloadSizeTooLarge');
  });

  it('When a gzip body inflates past the decompressed cap (gzip bomb), then 413', async () => {
    // 30 MiB of spaces compress to about 30 KiB, under the 1 MiB wire limit but over the 20 MiB cap.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"status":"online","message":"'), Buffer.alloc(30 * 1024 * 1024, 0x20), Buffer.from('"}')]));
    expect(bomb.length).to.be.lessThan(1024 * 1024);
    const gzHeaders = { 'User-Agent': UA, Authorization: auth, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' };
    const res = await unchanged(() => rawPost(h.url, checkinPath, gzHeaders, bomb));
    expect(res.status).to.equal(413);
    expect(res.body).to.include({ statusCode: 413, error: 'ErrPayloadSizeTooLarge' });
    const garbage = await unchanged(() => rawPost(h.url, checkinPath, gzHeaders, Buffer.from('not gzip at all')));
    expect(garbage.status).to.equal(400);
    expect(garbage.body).to.include({ statusCode: 400, error: 'BadRequest' });
  });

  it('When a gzip body is valid, then it is accepted', async () => {
    const body = gzipSync(Buffer.from(JSON.stringify({ status: 'online', message: 'gz', poll_timeout: '2m1s' })));
    const res = await rawPost(h.url, checkinPath, { 'User-Agent': UA, Authorization: auth, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, body);
    expect(res.status).to.equal(200);
  });

  it('When enrolling with a revoked enrollment key, then 401 and no agent is created', async () => {
    const created = await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: 'fleet-default-policy' }).expect(200);
    const token = created.body.item.api_key as string;
    const body = { type: 'PERMANENT', metadata: { local: localMetadata() } };
    await request(h.url).post('/api/fleet/agents/enroll').set('User-Agent', UA).set('Authorization', `ApiKey ${token}`).send(body).expect(200);
    await request(h.url).delete(`/api/fleet/enrollment_api_keys/${created.body.item.id}`).set(h.admin).expect(200);
    const before = await h.server.store.agents.query({ page: 1, perPage: 1, now: new Date(), showInactive: true });
    const res = await request(h.url).post('/api/fleet/agents/enroll').set('User-Agent', UA).set('Authorization', `ApiKey ${token}`).send(body);
    expectError(res, 401, 'ErrUnauthorized');
    const after = await h.server.store.agents.query({ page: 1, perPage: 1, now: new Date(), showInactive: true });
    expect(after.total).to.equal(before.total);
    const listed = await request(h.url).get('/api/fleet/enrollment_api_keys').set(h.admin).expect(200);
    const revoked = listed.body.items.find((k: { id: string }) => k.id === created.body.item.id);
    expect(revoked.active).to.equal(false);
    expect(revoked).to.not.have.property('api_key');
  });

  it('When an enroll body has an invalid type or id, then 400 and no agent is created', async () => {
    const send = (body: object) =>
      request(h.url).post('/api/fleet/agents/enroll').set('User-Agent', UA).set('Authorization', `ApiKey ${h.enrollmentToken}`).send(body);
    expectError(await send({ type: 'SOMETIMES', metadata: { local: {} } }), 400, 'BadRequest');
    expectError(await send({ type: 'PERMANENT', id: '../../etc', metadata: { local: {} } }), 400, 'BadRequest');
    expectError(await send({ type: 'PERMANENT' }), 400, 'BadRequest');
  });

  it('When re-enrolling an existing id without the right replace token, then 403 AgentNotReplaceable', async () => {
    const first = h.agent();
    const id = 'host-with-stable-id';
    await first.enroll(h.enrollmentToken, { type: 'PERMANENT', id, replace_token: 'correct-horse', metadata: { local: localMetadata() } });
    const thief = h.agent();
    const err = await thief
      .enroll(h.enrollmentToken, { type: 'PERMANENT', id, replace_token: 'wrong', metadata: { local: localMetadata() } })
      .catch((e: { status: number; body: { error: string } }) => e);
    expect(err).to.include({ status: 403 });
    expect((err as { body: { error: string } }).body.error).to.equal('AgentNotReplaceable');
    // The right token replaces it: the old key stops working, the new one works.
    const replacement = h.agent();
    await replacement.enroll(h.enrollmentToken, { type: 'PERMANENT', id, replace_token: 'correct-horse', metadata: { local: localMetadata() } });
    expect(replacement.agentId).to.equal(id);
    const stale = await first.checkin({ status: 'online', message: '' }).catch((e: { status: number }) => e);
    expect(stale).to.include({ status: 401 });
    const fresh = await replacement.checkin({ status: 'online', message: '' });
    expect(fresh.action).to.equal('checkin');
    const doc = await h.server.store.agents.get(id);
    expect(doc?._source.replace_token).to.match(/^\$pbkdf2-sha512\$1000\$/);
    for (const c of [first, thief, replacement]) c.close();
  });

  it('When an unknown route is called, then 404 in the same error shape', async () => {
    const res = await request(h.url).get('/api/fleet/nothing-here');
    expect(res.status).to.equal(404);
    const agentRoute = await request(h.url).get('/nothing');
    expectError(agentRoute, 404, 'NotFound');
    const notImplemented = await request(h.url).post('/v1/opamp').send({});
    expectError(notImplemented, 404, 'NotFound');
  });

  it('When the management API is called without the admin token, then 401 and nothing changes', async () => {
    const res = await request(h.url).post('/api/fleet/agent_policies').send({ name: 'x' });
    expect(res.status).to.equal(401);
    expect(res.body).to.include({ statusCode: 401, error: 'Unauthorized' });
    const list = await request(h.url).get('/api/fleet/agent_policies').set(h.admin).expect(200);
    expect(list.body.items.map((p: { name: string }) => p.name)).to.not.include('x');
  });

  it('When management input is invalid, then 400 Bad Request in Kibana shape', async () => {
    const unknownField = await request(h.url).post('/api/fleet/agent_policies').set(h.admin).send({ name: 'p', colour: 'red' });
    expect(unknownField.status).to.equal(400);
    expect(unknownField.body).to.include({ statusCode: 400, error: 'Bad Request' });
    const badKuery = await request(h.url).get('/api/fleet/agents').query({ kuery: 'password:*' }).set(h.admin);
    expect(badKuery.status).to.equal(400);
    expect(badKuery.body.message).to.contain('not supported');
    const missing = await request(h.url).get('/api/fleet/agent_policies/nope').set(h.admin);
    expect(missing.status).to.equal(404);
    expect(missing.body).to.include({ statusCode: 404, error: 'Not Found' });
    const duplicate = await request(h.url).post('/api/fleet/agent_policies').set(h.admin).send({ name: 'Default policy' });
    expect(duplicate.status).to.equal(409);
  });
});
