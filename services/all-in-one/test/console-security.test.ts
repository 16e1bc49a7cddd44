/// <reference lib="dom" />
import { ConsoleSessions, consoleRoutes } from '@fleet/policy-dispatcher';
import { createLogger, errorHandler, notFound } from '@fleet/service-kit';
import { expect } from 'chai';
import express from 'express';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import request from 'supertest';
import { assertAccessible, launchBrowser, openConsolePage, screenshot, signIn, startConsoleServer, type ConsoleServer } from './support/console-browser';
import { eventually, sleep } from './support/fleet-server-harness';

const SESSION = '/api/fleet/console/session';

/** A GET with the path sent exactly as written (supertest and URL would resolve `..` first). */
function rawGet(server: ConsoleServer, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port: server.harness.server.port, path, method: 'GET', agent: server.httpsAgent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** The directives of a CSP header, by name. */
function cspDirectives(header: unknown): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of String(header).split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) map.set(name, values);
  }
  return map;
}

function sessionPair(res: request.Response): string {
  const header = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('fleet_console_session='));
  if (!header) throw new Error('no session cookie');
  return header.split(';')[0]!;
}

describe('Console security: the served console and its session, over HTTPS and in Chromium', function () {
  this.timeout(120_000);
  let server: ConsoleServer;
  let browser: Browser;
  const api = () => request.agent(server.origin, { ca: server.caPem });
  const signInApi = async () => {
    const res = await api().post(SESSION).send({ token: server.harness.server.adminToken }).expect(200);
    return { pair: sessionPair(res), csrf: res.body.item.csrf_token as string, res };
  };

  before(async function () {
    this.timeout(900_000);
    server = await startConsoleServer();
    browser = await launchBrowser(server);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  describe('over HTTP', () => {
    it('When the console is asked for, then index.html comes with a strict CSP whose nonce is new on every response and written into the page', async () => {
      const a = await api().get('/app/fleet/').expect(200);
      const b = await api().get('/app/fleet/agents?status=online').expect(200);
      expect(a.headers['content-type']).to.equal('text/html; charset=utf-8');
      expect(a.headers['cache-control']).to.equal('no-store');
      const csp = cspDirectives(a.headers['content-security-policy']);
      expect(csp.get('default-src')).to.deep.equal(["'none'"]);
      expect(csp.get('script-src')).to.deep.equal(["'self'"]);
      expect(csp.get('connect-src')).to.deep.equal(["'self'"]);
      expect(csp.get('base-uri')).to.deep.equal(["'none'"]);
      expect(csp.get('frame-ancestors')).to.deep.equal(["'none'"]);
      expect(csp.get('form-action')).to.deep.equal(["'self'"]);
      expect(String(a.headers['content-security-policy'])).to.not.match(/unsafe-inline|unsafe-eval|\*/);
      const nonceA = /'nonce-([^']+)'/.exec(csp.get('style-src')!.join(' '))?.[1];
      const nonceB = /'nonce-([^']+)'/.exec(String(b.headers['content-security-policy']))?.[1];
      expect(nonceA).to.be.a('string').with.length.above(20);
      expect(nonceB).to.be.a('string').and.not.equal(nonceA);
      expect(a.text).to.include(`<meta name="csp-nonce" content="${nonceA}"`);
      expect(a.text).to.not.include('__CSP_NONCE__');
      expect(b.text).to.include(nonceB);
      // Not one inline script: every script element loads a file.
      const scripts = [...a.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.length).to.be.above(0);
      for (const [, attrs, body] of scripts) {
        expect(attrs).to.match(/\bsrc="\/app\/fleet\/assets\//);
        expect(body!.trim()).to.equal('');
      }
      expect(a.text).to.not.match(/\son[a-z]+=/i);
    });

    it("When any other path answers, then it keeps the API's own default-src 'none' CSP", async () => {
      const res = await api().get('/api/fleet/agents').expect(401);
      expect(res.headers['content-security-policy']).to.match(/default-src 'none'/);
      expect(res.headers['content-security-policy']).to.not.include('script-src');
    });

    it('When a hashed asset is fetched, then it is cached for good, and sent gzipped to a browser that takes gzip', async () => {
      const index = await api().get('/app/fleet/').expect(200);
      const assets = [...index.text.matchAll(/(?:src|href)="(\/app\/fleet\/assets\/[^"]+)"/g)].map((m) => m[1]!);
      expect(assets.some((a) => a.endsWith('.js'))).to.equal(true);
      for (const asset of assets) {
        const res = await api().get(asset).set('Accept-Encoding', 'gzip').buffer(true).expect(200);
        expect(res.headers['cache-control']).to.equal('public, max-age=31536000, immutable');
        expect(res.headers['content-security-policy']).to.match(/script-src 'self'/);
        if (asset.endsWith('.js')) {
          expect(res.headers['content-type']).to.equal('text/javascript; charset=utf-8');
          expect(res.headers['content-encoding']).to.equal('gzip');
          expect(res.headers.vary).to.equal('Accept-Encoding');
        }
      }
      const plain = await rawGet(server, assets.find((a) => a.endsWith('.js'))!);
      expect(plain.status).to.equal(200);
      expect(plain.headers['content-encoding']).to.equal(undefined);
      const head = await api().head(assets[0]!).expect(200);
      expect(Number(head.headers['content-length'])).to.be.above(0);
    });

    it('When a path tries to leave the console directory, then it is refused and no file outside is served', async () => {
      const secret = readFileSync(join(__dirname, '../../../package.json'), 'utf8').slice(0, 40);
      for (const path of [
        '/app/fleet/..%2f..%2fpackage.json',
        '/app/fleet/..%2F..%2F..%2F..%2Fpackage.json',
        '/app/fleet/%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json',
        '/app/fleet/../../../../package.json',
        '/app/fleet/assets/..%5c..%5cpackage.json',
        '/app/fleet/assets/%00.js',
      ]) {
        const res = await rawGet(server, path);
        expect(res.status, path).to.be.oneOf([400, 404]);
        expect(res.body, path).to.not.include(secret);
        if (res.status === 400) expect(JSON.parse(res.body), path).to.include({ statusCode: 400, error: 'Bad Request' });
      }
    });

    it('When a missing asset, another method or the bare base path is asked for, then 404, 405 and a redirect', async () => {
      const missing = await api().get('/app/fleet/assets/index-00000000.js').expect(404);
      expect(missing.body).to.include({ statusCode: 404, error: 'Not Found' });
      const post = await api().post('/app/fleet/').send({}).expect(405);
      expect(post.headers.allow).to.equal('GET, HEAD');
      expect(post.body).to.include({ statusCode: 405, error: 'Method Not Allowed' });
      const bare = await api().get('/app/fleet?x=1').redirects(0).expect(302);
      expect(bare.headers.location).to.equal('/app/fleet/?x=1');
      // A deep link is the app's page.
      const deep = await api().get('/app/fleet/policies/some-policy').expect(200);
      expect(deep.headers['content-type']).to.equal('text/html; charset=utf-8');
    });

    it('When there is no session, then the API answers 401; a forged or foreign-key cookie is refused too', async () => {
      await api().get('/api/fleet/agents').expect(401);
      const foreign = new ConsoleSessions('some-other-admin-token-of-another-install', 3_600_000).issue({ kind: 'bootstrap', name: 'bootstrap', role: 'admin' });
      const res = await api().get('/api/fleet/agents').set('Cookie', `fleet_console_session=${foreign.value}`).expect(401);
      expect(res.body).to.include({ statusCode: 401, error: 'Unauthorized' });
      await api().get(SESSION).set('Cookie', `fleet_console_session=${foreign.value}`).expect(401);
    });

    it('When a signed-in session posts without the CSRF token (what a cross-site form would do), then 403 and nothing changes', async () => {
      const { pair, csrf } = await signInApi();
      const before = (await api().get('/api/fleet/agent_policies').set('Cookie', pair).expect(200)).body.total as number;
      const res = await api()
        .post('/api/fleet/agent_policies')
        .set('Cookie', pair)
        .set('Origin', 'https://attacker.example')
        .set('Content-Type', 'text/plain')
        .send(JSON.stringify({ name: 'csrf', namespace: 'default' }));
      expect(res.status).to.equal(403);
      expect(res.body).to.include({ statusCode: 403, error: 'Forbidden' });
      expect((await api().get('/api/fleet/agent_policies').set('Cookie', pair).expect(200)).body.total).to.equal(before);
      // The same call with the token is the console's own.
      await api().post('/api/fleet/agent_policies').set('Cookie', pair).set('X-Fleet-CSRF-Token', csrf).send({ name: 'with csrf', namespace: 'default' }).expect(200);
    });

    it('When the server first starts, then its log prints the console URL', () => {
      const lines = server.harness.logs.map((l) => JSON.parse(l) as { msg: string; url?: string });
      const line = lines.find((l) => l.msg.startsWith('the Fleet console: '));
      expect(line?.url).to.match(/^https:\/\/localhost:\d+\/app\/fleet\/$/);
    });
  });

  describe('in Chromium', () => {
    it('When a page is opened without a session, then it lands on the sign-in page, which passes axe and has no CSP violation', async () => {
      const cp = await openConsolePage(browser, server);
      try {
        await cp.page.goto(cp.url('/agents?status=online'));
        await cp.by('loginForm').waitFor();
        const url = new URL(cp.page.url());
        expect(url.pathname).to.equal('/app/fleet/login');
        expect(url.searchParams.get('next')).to.equal('/agents?status=online');
        await assertAccessible(cp.page, 'login');
        await screenshot(cp.page, 'login');
        // A wrong token: the error is shown, nothing stored.
        await cp.by('loginTokenInput').fill('not-the-token');
        await cp.by('loginSubmit').click();
        await cp.by('loginError').waitFor();
        cp.assertNoProblems();
      } finally {
        await cp.close();
      }
    });

    it('When the operator signs in, then the cookie is HttpOnly, Secure and SameSite=Strict, and the token is nowhere script can read', async () => {
      const cp = await openConsolePage(browser, server);
      try {
        await signIn(cp, server.harness.server.adminToken, '/agents?status=online');
        // Back where the operator was going.
        await eventually(() => new URL(cp.page.url()).pathname === '/app/fleet/agents');
        const cookies = await cp.context.cookies();
        const session = cookies.find((c) => c.name === 'fleet_console_session');
        expect(session).to.include({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
        const visible = await cp.page.evaluate(() => ({
          cookie: document.cookie,
          local: JSON.stringify({ ...window.localStorage }),
          session: JSON.stringify({ ...window.sessionStorage }),
          html: document.documentElement.outerHTML,
        }));
        const token = server.harness.server.adminToken;
        expect(visible.cookie).to.not.include('fleet_console_session');
        for (const [where, text] of Object.entries(visible)) expect(text, where).to.not.include(token);
        // Styles are injected with this response's nonce (no CSP violation), and no inline script exists.
        const page = await cp.page.evaluate(() => ({
          inlineScripts: [...document.querySelectorAll('script')].filter((s) => !s.src).length,
          styles: [...document.querySelectorAll('style')].map((s) => s.nonce).filter((n) => !n).length,
        }));
        expect(page).to.deep.equal({ inlineScripts: 0, styles: 0 });
        cp.assertNoProblems();
      } finally {
        await cp.close();
      }
    });

    it('When a forged cookie is planted, then the page still asks to sign in', async () => {
      const cp = await openConsolePage(browser, server);
      try {
        const forged = new ConsoleSessions('not-this-servers-token', 3_600_000).issue({ kind: 'bootstrap', name: 'bootstrap', role: 'admin' });
        await cp.context.addCookies([{ name: 'fleet_console_session', value: forged.value, domain: 'localhost', path: '/', httpOnly: true, secure: true, sameSite: 'Strict' }]);
        await cp.page.goto(cp.url('/policies'));
        await cp.by('loginForm').waitFor();
        expect(new URL(cp.page.url()).pathname).to.equal('/app/fleet/login');
        cp.assertNoProblems();
      } finally {
        await cp.close();
      }
    });

    it('When another site submits a form to the API in a signed-in browser, then it is refused and nothing changes', async () => {
      const cp = await openConsolePage(browser, server);
      const attacker: Server = createServer((_req, res) => {
        res.setHeader('Content-Type', 'text/html');
        res.end(
          `<!doctype html><form id="f" method="POST" enctype="text/plain" action="${server.origin}/api/fleet/agent_policies">` +
            `<input name='{"name":"csrf-form","namespace":"default","x":"' value='"}'></form><script>document.getElementById('f').submit()</script>`,
        );
      });
      await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
      try {
        await signIn(cp, server.harness.server.adminToken);
        const { pair } = await signInApi();
        const before = (await api().get('/api/fleet/agent_policies').set('Cookie', pair).expect(200)).body.total as number;
        const answer = cp.page.waitForResponse((r) => r.url().endsWith('/api/fleet/agent_policies') && r.request().method() === 'POST');
        await cp.page.goto(`http://127.0.0.1:${(attacker.address() as { port: number }).port}/`);
        const res = await answer;
        // SameSite=Strict: the cookie is not even sent (401); were it sent, the missing CSRF token is a 403.
        expect(res.status()).to.be.oneOf([401, 403]);
        expect((await api().get('/api/fleet/agent_policies').set('Cookie', pair).expect(200)).body.total).to.equal(before);
      } finally {
        await new Promise((r) => attacker.close(r));
        await cp.close();
      }
    });
  });

  describe('a short session lifetime (FLEET_CONSOLE_SESSION_TTL_MS)', () => {
    let shortLived: ConsoleServer;
    before(async () => {
      shortLived = await startConsoleServer({ dispatch: { consoleSessionTtlMs: 3_000 } });
    });
    after(async () => shortLived?.stop());

    it('When the session has expired, then the API refuses its cookie and the page asks to sign in again', async () => {
      const short = await launchBrowser(shortLived);
      const cp = await openConsolePage(short, shortLived);
      try {
        await signIn(cp, shortLived.harness.server.adminToken);
        const cookie = (await cp.context.cookies()).find((c) => c.name === 'fleet_console_session')!;
        await request.agent(shortLived.origin, { ca: shortLived.caPem }).get('/api/fleet/agents').set('Cookie', `${cookie.name}=${cookie.value}`).expect(200);
        await sleep(3_200);
        await request.agent(shortLived.origin, { ca: shortLived.caPem }).get('/api/fleet/agents').set('Cookie', `${cookie.name}=${cookie.value}`).expect(401);
        // The browser dropped the cookie at Max-Age, or the server refuses it: either way, sign in again.
        await cp.page.goto(cp.url('/agents'));
        await cp.by('loginForm').waitFor();
        cp.assertNoProblems();
      } finally {
        await cp.close();
        await short.close();
      }
    });
  });
});

describe('Console assets without a build', function () {
  let dir: string;
  let url: string;
  let http: Server;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-console-dist-'));
    const app = express();
    app.use(consoleRoutes({ logger: createLogger({ name: 'console-test', level: 'silent' }), distDir: join(dir, 'dist') }));
    app.use(notFound());
    app.use(errorHandler('kibana'));
    http = createServer(app);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  });
  after(async () => {
    await new Promise((r) => http.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('When dist is missing, then the console answers 503 saying to run npm run build:console; once built, it is served without a restart', async () => {
    const res = await request(url).get('/app/fleet/agents').expect(503);
    expect(res.body).to.include({ statusCode: 503, error: 'Service Unavailable' });
    expect(res.body.message).to.include('npm run build:console');
    expect(res.body.message, 'no server path to the client').to.not.include(dir);
    mkdirSync(join(dir, 'dist', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'dist', 'index.html'), '<meta name="csp-nonce" content="__CSP_NONCE__"><script type="module" src="/app/fleet/assets/a-1.js"></script>');
    writeFileSync(join(dir, 'dist', 'assets', 'a-1.js'), 'export {};\n'.repeat(100));
    writeFileSync(join(dir, 'dist', 'assets', 'a-1.js.gz'), gzipSync('export {};\n'.repeat(100)));
    writeFileSync(join(dir, 'dist', '.source-hash'), 'abc\n');
    await eventually(async () => (await request(url).get('/app/fleet/agents')).status === 200, 3_000, 100);
    const page = await request(url).get('/app/fleet/').expect(200);
    expect(page.text).to.match(/content="[A-Za-z0-9+/=]{24}"/);
    // The build's own files are not served.
    await request(url).get('/app/fleet/.source-hash').expect(404);
    await request(url).get('/app/fleet/index.html').expect(404);
    const js = await request(url).get('/app/fleet/assets/a-1.js').set('Accept-Encoding', 'identity').expect(200);
    expect(js.text).to.equal('export {};\n'.repeat(100));
    const gz = await request(url).get('/app/fleet/assets/a-1.js').set('Accept-Encoding', 'gzip;q=0, deflate').buffer(true).expect(200);
    expect(gz.headers['content-encoding']).to.equal(undefined);
  });
});
