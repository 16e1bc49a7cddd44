import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { sleep, startHarness, type Harness } from './support/fleet-server-harness';

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
