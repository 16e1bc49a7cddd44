import { expect } from 'chai';
import { createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { eventually, sleep, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

const SESSION = '/api/fleet/console/session';

/** The `name=value` part of the session's Set-Cookie, and its attributes. */
function sessionCookie(res: request.Response): { pair: string; attributes: string[] } {
  const header = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('fleet_console_session='));
  if (!header) throw new Error('no session cookie set');
  const [pair, ...attributes] = header.split(';').map((s) => s.trim());
  return { pair: pair!, attributes };
}

describe('Console sessions: a pasted token exchanged for a cookie', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h?.stop());

  const signIn = async (token: string) => {
    const res = await request(h.url).post(SESSION).send({ token });
    return res;
  };

  it('When the bootstrap token is pasted, then the answer sets an HttpOnly, SameSite=Strict cookie with an expiry, and gives a CSRF token but never the token', async () => {
    const res = await signIn(h.server.adminToken);
    expect(res.status).to.equal(200);
    const { attributes } = sessionCookie(res);
    expect(attributes).to.include.members(['Path=/', 'HttpOnly', 'SameSite=Strict', 'Max-Age=28800']);
    expect(attributes).to.not.include('Secure');
    expect(res.body.item).to.include({ role: 'admin', name: 'bootstrap' });
    expect(res.body.item.csrf_token).to.be.a('string').with.length.above(20);
    expect(JSON.stringify(res.body)).to.not.include(h.server.adminToken);
    expect(res.headers['cache-control']).to.equal('no-store');
  });

  it('When a wrong token is pasted, then 401 in the error shape and no cookie', async () => {
    const res = await signIn('not-a-token');
    expect(res.status).to.equal(401);
    expect(res.body).to.include({ statusCode: 401, error: 'Unauthorized' });
    expect(res.headers['set-cookie']).to.equal(undefined);
    expect((await request(h.url).post(SESSION).send({ token: 'x', extra: 1 })).status).to.equal(400);
  });

  it('When the console calls the management API with the cookie, then reads work, and changes need the CSRF token', async () => {
    const res = await signIn(h.server.adminToken);
    const { pair } = sessionCookie(res);
    const csrf = res.body.item.csrf_token as string;
    await request(h.url).get('/api/fleet/agent_policies').set('Cookie', pair).expect(200);
    const without = await request(h.url).post('/api/fleet/agent_policies').set('Cookie', pair).send({ name: 'no csrf', namespace: 'default' });
    expect(without.status).to.equal(403);
    expect(without.body).to.include({ statusCode: 403, error: 'Forbidden' });
    const wrong = await request(h.url).post('/api/fleet/agent_policies').set('Cookie', pair).set('X-Fleet-CSRF-Token', `${csrf.slice(1)}x`).send({ name: 'wrong csrf', namespace: 'default' });
    expect(wrong.status).to.equal(403);
    await request(h.url).post('/api/fleet/agent_policies').set('Cookie', pair).set('X-Fleet-CSRF-Token', csrf).send({ name: 'with csrf', namespace: 'default' }).expect(200);
    const session = await request(h.url).get(SESSION).set('Cookie', pair).expect(200);
    expect(session.body.item.csrf_token).to.equal(csrf);
  });

  it('When the cookie is altered, then it is refused', async () => {
    const { pair } = sessionCookie(await signIn(h.server.adminToken));
    const [name, value] = pair.split('=') as [string, string];
    const [version, payload, mac] = value.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, exp: Date.now() + 1e12 })).toString('base64url');
    await request(h.url).get('/api/fleet/agent_policies').set('Cookie', `${name}=${version}.${forged}.${mac}`).expect(401);
    await request(h.url).get('/api/fleet/agent_policies').set('Cookie', `${name}=${version}.${payload}.${mac.slice(0, -2)}AA`).expect(401);
    await request(h.url).get(SESSION).set('Cookie', `${name}=garbage`).expect(401);
  });

  it("When a management key's session is used after the key is revoked, then it is refused at once", async () => {
    const created = await request(h.url).post('/api/fleet/management_api_keys').set(h.admin).send({ name: 'console-op', role: 'operator' }).expect(200);
    const res = await signIn(created.body.item.api_key as string);
    expect(res.body.item).to.include({ role: 'operator', name: 'console-op' });
    const { pair } = sessionCookie(res);
    await request(h.url).get('/api/fleet/agents').set('Cookie', pair).expect(200);
    // An operator's session may not do what an operator may not.
    const forbidden = await request(h.url).post('/api/fleet/agent_policies').set('Cookie', pair).set('X-Fleet-CSRF-Token', res.body.item.csrf_token as string).send({ name: 'x', namespace: 'default' });
    expect(forbidden.status).to.equal(403);
    await request(h.url).delete(`/api/fleet/management_api_keys/${created.body.item.id as string}`).set(h.admin).expect(200);
    await request(h.url).get('/api/fleet/agents').set('Cookie', pair).expect(401);
    await request(h.url).get(SESSION).set('Cookie', pair).expect(401);
  });

  it('When the operator signs out, then the cookie is cleared; and sign-ins are in the audit trail', async () => {
    const out = await request(h.url).delete(SESSION).expect(200);
    expect(sessionCookie(out).attributes).to.include('Max-Age=0');
    const audit = await request(h.url).get('/api/fleet/audit_log').set(h.admin).expect(200);
    const signIns = (audit.body.items as { request: { route: string; method: string } }[]).filter((r) => r.request.route === SESSION && r.request.method === 'POST');
    expect(signIns.length).to.be.at.least(3);
  });

  it('When a session is older than its lifetime, then it is refused', async () => {
    await h.restart({ dispatch: { consoleSessionTtlMs: 1_000 } });
    const { pair } = sessionCookie(await signIn(h.server.adminToken));
    await request(h.url).get('/api/fleet/agent_policies').set('Cookie', pair).expect(200);
    await sleep(1_200);
    await request(h.url).get('/api/fleet/agent_policies').set('Cookie', pair).expect(401);
  });

  it('When the console is reached over HTTPS, then the cookie is Secure too', async () => {
    const tls = await startHarness({ http: { tls: { mode: 'auto' } } });
    try {
      const res = await request(tls.url).post(SESSION).ca(readFileSync(tls.server.caFile!)).send({ token: tls.server.adminToken }).expect(200);
      expect(sessionCookie(res).attributes).to.include('Secure');
    } finally {
      await tls.stop();
    }
  });
});

/**
 * The stolen-cookie attack: sign in, copy the cookie, sign out, replay the copy. Signing out ends
 * the session in the store, which every dispatcher replica reads on every call.
 */
for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) {
  describe(`Console sign-out ends the session on the server (${backend})`, function () {
    this.timeout(120_000);
    let h: Harness;
    /** A second replica on the same store, with its own in-process bus (they share the store, not Redis). */
    let other: Harness;
    before(async () => {
      h = await startHarness({}, undefined, backend);
      other = await startHarness({}, h.dataDir, backend);
    });
    after(async () => {
      await other?.stop();
      await h?.stop();
    });

    const signIn = async (token = h.server.adminToken) => {
      const res = await request(h.url).post(SESSION).send({ token }).expect(200);
      return { pair: sessionCookie(res).pair, csrf: res.body.item.csrf_token as string };
    };
    const createPolicy = (url: string, s: { pair: string; csrf: string }, name: string) =>
      request(url).post('/api/fleet/agent_policies').set('Cookie', s.pair).set('X-Fleet-CSRF-Token', s.csrf).send({ name, namespace: 'default' });

    it('When a copied cookie is replayed after sign-out, then every replica refuses it (401) on reads, getSession and changes', async () => {
      const stolen = await signIn();
      const bystander = await signIn();
      for (const url of [h.url, other.url]) await request(url).get(SESSION).set('Cookie', stolen.pair).expect(200);
      await createPolicy(other.url, stolen, `before sign-out ${backend}`).expect(200);

      const out = await request(h.url).delete(SESSION).set('Cookie', stolen.pair).set('X-Fleet-CSRF-Token', stolen.csrf).expect(200);
      expect(out.body).to.deep.equal({ action: 'deleted' });
      expect(sessionCookie(out).attributes).to.include('Max-Age=0');

      for (const url of [h.url, other.url]) {
        const session = await request(url).get(SESSION).set('Cookie', stolen.pair);
        expect(session.status, `getSession on ${url}`).to.equal(401);
        expect(session.body).to.include({ statusCode: 401, error: 'Unauthorized' });
        expect((await createPolicy(url, stolen, `replayed ${backend}`)).status, `change on ${url}`).to.equal(401);
        await request(url).get('/api/fleet/agent_policies').set('Cookie', stolen.pair).expect(401);
      }
      // Only that session ended: another one, of the same token, goes on.
      await request(other.url).get(SESSION).set('Cookie', bystander.pair).expect(200);
      await createPolicy(h.url, bystander, `bystander ${backend}`).expect(200);
    });

    it('When sign-out comes without the CSRF token, then it is refused (403) and the session goes on; signing out again is idempotent and audited', async () => {
      // A key of its own, so that this session's audit records are told apart from the other tests'.
      const created = await request(h.url).post('/api/fleet/management_api_keys').set(h.admin).send({ name: `signs-out-${backend}`, role: 'admin' }).expect(200);
      const keyId = created.body.item.id as string;
      const s = await signIn(created.body.item.api_key as string);
      const forced = await request(h.url).delete(SESSION).set('Cookie', s.pair);
      expect(forced.status).to.equal(403);
      expect(forced.body).to.include({ statusCode: 403, error: 'Forbidden' });
      await request(other.url).get(SESSION).set('Cookie', s.pair).expect(200);

      await request(other.url).delete(SESSION).set('Cookie', s.pair).set('X-Fleet-CSRF-Token', s.csrf).expect(200);
      await request(h.url).delete(SESSION).set('Cookie', s.pair).set('X-Fleet-CSRF-Token', s.csrf).expect(200);
      await request(h.url).get(SESSION).set('Cookie', s.pair).expect(401);

      type Row = { actor: { id?: string; name: string }; request: { route: string; method: string }; outcome: { status_code: number } };
      const signOuts = async () => {
        const audit = await request(h.url).get('/api/fleet/audit_log').set(h.admin).query({ perPage: 100 }).expect(200);
        return (audit.body.items as Row[]).filter((r) => r.actor.id === keyId && r.request.route === SESSION && r.request.method === 'DELETE');
      };
      // Audit records are written once the answer is sent.
      await eventually(async () => (await signOuts()).length === 2, 10_000);
      await sleep(300);
      const rows = await signOuts();
      // Like every call refused for its CSRF token, the 403 is not audited (no actor was established).
      expect(rows.map((r) => r.outcome.status_code)).to.deep.equal([200, 200]);
      expect(rows.every((r) => r.actor.name === `signs-out-${backend}`)).to.equal(true);
    });

    it('When a session signs out, then records of sessions that have expired anyway are swept', async () => {
      const past = new Date(Date.now() - 60_000).toISOString();
      await h.server.store.consoleSessions.end({ sid: `expired-${backend}`, expires_at: past, ended_at: past });
      expect(await h.server.store.consoleSessions.isEnded(`expired-${backend}`)).to.equal(true);
      const s = await signIn();
      await request(h.url).delete(SESSION).set('Cookie', s.pair).set('X-Fleet-CSRF-Token', s.csrf).expect(200);
      expect(await h.server.store.consoleSessions.isEnded(`expired-${backend}`)).to.equal(false);
      await request(h.url).get(SESSION).set('Cookie', s.pair).expect(401);
    });

    it("When a management key's session signs out, then its cookie is refused too, though the key itself stays valid", async () => {
      const created = await request(h.url).post('/api/fleet/management_api_keys').set(h.admin).send({ name: `op-${backend}`, role: 'operator' }).expect(200);
      const s = await signIn(created.body.item.api_key as string);
      await request(h.url).get('/api/fleet/agents').set('Cookie', s.pair).expect(200);
      await request(h.url).delete(SESSION).set('Cookie', s.pair).set('X-Fleet-CSRF-Token', s.csrf).expect(200);
      await request(other.url).get('/api/fleet/agents').set('Cookie', s.pair).expect(401);
      await request(other.url).get('/api/fleet/agents').set('Authorization', `Bearer ${created.body.item.api_key as string}`).expect(200);
    });
  });
}

describe('Console sessions: cookies from before sign-out could end them, and a store that cannot answer', function () {
  this.timeout(60_000);
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => h?.stop());

  it('When a validly signed cookie has no session id (issued before the change), then it is refused: the operator signs in again', async () => {
    // Signed as the server signs, with the server's own key, but without a sid.
    const key = Buffer.from(hkdfSync('sha256', h.server.adminToken, 'fleet-console-session', 'v1', 32));
    const claims = { kind: 'bootstrap', name: 'bootstrap', role: 'admin', exp: Date.now() + 3_600_000, csrf: 'c'.repeat(32) };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const mac = createHmac('sha256', key).update(`v1.${payload}`).digest('base64url');
    const legacy = `fleet_console_session=v1.${payload}.${mac}`;
    // The same signing with a sid is accepted: the refusal is the missing sid, not the signature.
    const withSid = Buffer.from(JSON.stringify({ ...claims, sid: 'A'.repeat(22) })).toString('base64url');
    const withSidMac = createHmac('sha256', key).update(`v1.${withSid}`).digest('base64url');
    await request(h.url).get(SESSION).set('Cookie', `fleet_console_session=v1.${withSid}.${withSidMac}`).expect(200);
    await request(h.url).get(SESSION).set('Cookie', legacy).expect(401);
    await request(h.url).get('/api/fleet/agent_policies').set('Cookie', legacy).expect(401);
  });

  it('When the store cannot say whether a session was signed out, then the session is refused (401, fail closed)', async () => {
    const res = await request(h.url).post(SESSION).send({ token: h.server.adminToken }).expect(200);
    const { pair } = sessionCookie(res);
    await request(h.url).get(SESSION).set('Cookie', pair).expect(200);
    await h.server.store.close();
    await request(h.url).get(SESSION).set('Cookie', pair).expect(401);
    await request(h.url).get('/api/fleet/agent_policies').set('Cookie', pair).expect(401);
    expect(h.logs.some((l) => l.includes('console session refused: the store could not say'))).to.equal(true);
  });
});
