import { FleetAgentClient } from '@fleet/agent-protocol';
import { createCertificateAuthority, ensureGeneratedCertificates, issueCertificate, createLogger, type IssuedCertificate } from '@fleet/service-kit';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import request from 'supertest';
import { ackAll, eventually, localMetadata, startHarness, type Harness } from './support/fleet-server-harness';

const POLICY = 'fleet-default-policy';

/** A TLS handshake with the server: the certificate it showed and the protocol, or why it failed. */
function handshake(port: number, opts: ConnectionOptions = {}): Promise<{ serial?: string; protocol?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...opts });
    socket.setTimeout(5_000, () => socket.destroy(new Error('timeout')));
    socket.once('secureConnect', () => {
      const serial = socket.getPeerCertificate().serialNumber?.toUpperCase();
      const protocol = socket.getProtocol() ?? undefined;
      // Read until the server speaks or closes: a refused client certificate (TLS 1.3) is only
      // reported after the client's handshake is done.
      socket.write('GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.once('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve(text.startsWith('HTTP/1.1 200') ? { serial, protocol } : { error: `no answer (${text.slice(0, 40) || 'closed'})` });
      });
      socket.once('error', (err) => resolve({ error: err.message }));
    });
    socket.once('error', (err) => resolve({ error: err.message }));
  });
}

/** `openssl s_client` against the server: its output. With `input`, it is sent once connected, and the answer awaited. */
function sClient(port: number, args: string[], input?: string): Promise<string> {
  return new Promise((resolve) => {
    const extra = input === undefined ? [] : ['-ign_eof'];
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...extra, ...args], { timeout: 10_000 }, (_err, stdout, stderr) =>
      resolve(`${stdout}\n${stderr}`),
    );
    child.stdin?.end(input ?? '');
  });
}

const LIVEZ = 'GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';

/** The serial of the certificate `openssl s_client` was shown. */
async function sClientSerial(port: number, caFile: string): Promise<string | undefined> {
  const out = await sClient(port, ['-CAfile', caFile, '-showcerts']);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0];
  return pem ? new X509Certificate(pem).serialNumber.toUpperCase() : undefined;
}

interface Pki {
  dir: string;
  ca: IssuedCertificate;
  caFile: string;
  certFile: string;
  keyFile: string;
  server: IssuedCertificate;
  /** Signs the agents' certificates. */
  agentsCaFile: string;
  agentCert: { cert: string; key: string };
  /** An agent certificate from a CA the server does not know. */
  foreignCert: { cert: string; key: string };
}

function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-pki-'));
  const ca = createCertificateAuthority({ commonName: 'Test server CA' });
  const server = issueCertificate(ca, { commonName: 'localhost', hosts: ['localhost', '127.0.0.1'], usage: 'server' });
  const agentsCa = createCertificateAuthority({ commonName: 'Test agents CA' });
  const agent = issueCertificate(agentsCa, { commonName: 'agent-1', usage: 'client' });
  const other = createCertificateAuthority({ commonName: 'Someone else' });
  const foreign = issueCertificate(other, { commonName: 'intruder', usage: 'client' });
  const pki: Pki = {
    dir,
    ca,
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    server,
    agentsCaFile: join(dir, 'agents-ca.crt'),
    agentCert: { cert: agent.certPem, key: agent.keyPem },
    foreignCert: { cert: foreign.certPem, key: foreign.keyPem },
  };
  writeFileSync(pki.caFile, ca.certPem);
  writeFileSync(pki.certFile, server.certPem);
  writeFileSync(pki.keyFile, server.keyPem, { mode: 0o600 });
  writeFileSync(pki.agentsCaFile, agentsCa.certPem);
  return pki;
}

const tlsFiles = (pki: Pki, extra: Record<string, unknown> = {}) => ({ http: { tls: { mode: 'files', certFile: pki.certFile, keyFile: pki.keyFile, ...extra } } });

function httpsAgentFor(caPem: string, client?: { cert: string; key: string }): HttpsAgent {
  return new HttpsAgent({ keepAlive: true, ca: caPem, ...(client ?? {}) });
}

async function enrollOver(h: Harness, agent: HttpsAgent): Promise<FleetAgentClient> {
  const client = new FleetAgentClient({ url: h.url, httpAgent: agent });
  await client.enroll(h.enrollmentToken, { type: 'PERMANENT', metadata: { local: localMetadata(), user_provided: {}, tags: [] } });
  return client;
}

const portOf = (h: Harness): number => Number(new URL(h.url).port);

describe('HTTPS listener', function () {
  this.timeout(60_000);

  describe('secure by default: no certificate configured', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ http: { tls: { mode: 'auto' } } });
    });
    after(async () => h?.stop());

    it('When the all-in-one server starts with no certificate, then it serves HTTPS with a CA and certificate it made, keys 0600 in a 0700 directory', () => {
      expect(h.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
      const tlsDir = join(h.dataDir, 'tls');
      expect(h.server.caFile).to.equal(join(tlsDir, 'ca.crt'));
      expect(statSync(tlsDir).mode & 0o777).to.equal(0o700);
      expect(statSync(join(tlsDir, 'ca.key')).mode & 0o777).to.equal(0o600);
      expect(statSync(join(tlsDir, 'server.key')).mode & 0o777).to.equal(0o600);
      const cert = new X509Certificate(readFileSync(join(tlsDir, 'server.crt')));
      expect(cert.checkHost('localhost')).to.equal('localhost');
      expect(cert.checkIP('127.0.0.1')).to.equal('127.0.0.1');
      expect(cert.verify(new X509Certificate(readFileSync(h.server.caFile!)).publicKey)).to.equal(true);
    });

    it('When it prints the enrollment command, then its URL and CA file work as printed (curl --cacert) and it has no --insecure', async () => {
      const line = h.logs.find((l) => l.includes('enroll an Elastic Agent with'));
      const command = (JSON.parse(line!) as { command: string }).command;
      expect(command).to.equal(
        `elastic-agent enroll --url=https://localhost:8220 --enrollment-token=$(cat ${h.dataDir}/enrollment-token) --certificate-authorities=${h.dataDir}/tls/ca.crt`,
      );
      // The printed URL's host, reached on the test's port: the certificate must name it.
      const url = /--url=(\S+)/.exec(command)![1]!;
      const caFile = /--certificate-authorities=(\S+)/.exec(command)![1]!;
      const { hostname: host, port } = new URL(url);
      const out = await new Promise<string>((resolve, reject) =>
        execFile('curl', ['-sS', '--cacert', caFile, '--connect-to', `${host}:${port}:127.0.0.1:${portOf(h)}`, `${url}/api/status`], { timeout: 10_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(stderr || err.message)) : resolve(stdout),
        ),
      );
      expect(JSON.parse(out)).to.include({ name: 'fleet-server', status: 'HEALTHY' });
    });

    it('When a client does not trust the CA, or speaks plain HTTP to the port, then it gets nothing', async () => {
      expect((await handshake(portOf(h))).error).to.match(/self[- ]signed|unable to verify|local issuer/i);
      const plain = await new Promise<string>((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port: portOf(h), path: '/api/status', timeout: 5_000 }, (res) => resolve(`status ${res.statusCode}`));
        req.once('error', (err) => resolve(err.message));
        req.once('timeout', () => req.destroy(new Error('timeout')));
        req.end();
      });
      expect(plain).to.not.match(/^status 200/);
    });

    it('When an agent enrolls, checks in and acks over HTTPS with that CA, then the whole flow works', async () => {
      const agent = httpsAgentFor(readFileSync(h.server.caFile!, 'utf8'));
      const client = await enrollOver(h, agent);
      const first = await client.checkin({ status: 'online', message: 'Running' });
      expect(first.actions?.find((a) => a.type === 'POLICY_CHANGE')?.id).to.equal(`policy:${POLICY}:1`);
      await ackAll(client, first);
      const res = await request(h.url).get(`/api/fleet/agents/${client.agentId}`).ca(readFileSync(h.server.caFile!)).set(h.admin).expect(200);
      expect(res.body.item.policy_revision).to.equal(1);
      agent.destroy();
    });

    it('When the certificate is made again, then the CA is kept, and the server certificate only changes when a host is added', () => {
      const dir = mkdtempSync(join(tmpdir(), 'fleet-gen-'));
      const logger = createLogger({ name: 'test', level: 'silent' });
      try {
        const first = ensureGeneratedCertificates(dir, ['localhost', '127.0.0.1'], logger);
        const ca = readFileSync(first.caFile, 'utf8');
        const cert = readFileSync(first.certFile, 'utf8');
        ensureGeneratedCertificates(dir, ['localhost', '127.0.0.1'], logger);
        expect(readFileSync(first.certFile, 'utf8')).to.equal(cert);
        ensureGeneratedCertificates(dir, ['localhost', '127.0.0.1', 'fleet.example.com'], logger);
        expect(readFileSync(first.caFile, 'utf8')).to.equal(ca);
        const reissued = new X509Certificate(readFileSync(first.certFile));
        expect(reissued.checkHost('fleet.example.com')).to.equal('fleet.example.com');
        expect(reissued.verify(new X509Certificate(ca).publicKey)).to.equal(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('protocol versions', () => {
    let pki: Pki;
    let h: Harness;
    before(async () => {
      pki = makePki();
      h = await startHarness(tlsFiles(pki));
    });
    after(async () => {
      await h?.stop();
      rmSync(pki.dir, { recursive: true, force: true });
    });

    it('When a client offers TLS 1.0 or 1.1, then the handshake is refused; TLS 1.2 and 1.3 are served', async () => {
      // SECLEVEL=0 lets OpenSSL's client offer the old versions at all, so a refusal is the server's.
      for (const version of ['-tls1', '-tls1_1']) {
        const out = await sClient(portOf(h), [version, '-cipher', 'DEFAULT@SECLEVEL=0', '-CAfile', pki.caFile]);
        expect(out, version).to.match(/alert protocol version|no protocols available|unsupported protocol/i);
        expect(out, version).to.match(/New, \(NONE\)|Cipher is \(NONE\)/);
      }
      for (const [flag, name] of [['-tls1_2', 'TLSv1.2'], ['-tls1_3', 'TLSv1.3']] as const) {
        const out = await sClient(portOf(h), [flag, '-CAfile', pki.caFile]);
        expect(out, flag).to.match(new RegExp(`New, ${name.replace('.', '\\.')}`));
        expect(out, flag).to.include('Verify return code: 0 (ok)');
      }
      const node = await handshake(portOf(h), { ca: pki.ca.certPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
      expect(node.error).to.be.a('string');
    });

    it('When the minimum is TLS 1.3, then a TLS 1.2 client is refused', async () => {
      await h.restart(tlsFiles(pki, { minVersion: 'TLSv1.3' }));
      expect((await handshake(portOf(h), { ca: pki.ca.certPem, maxVersion: 'TLSv1.2' })).error).to.be.a('string');
      expect((await handshake(portOf(h), { ca: pki.ca.certPem })).protocol).to.equal('TLSv1.3');
      await h.restart(tlsFiles(pki, { minVersion: 'TLSv1.2' }));
    });

    it('When the certificate file holds only the leaf, then a chain file adds the intermediate the client needs', async () => {
      const root = createCertificateAuthority({ commonName: 'Root' });
      const intermediate = issueCertificate(root, { commonName: 'Intermediate', usage: 'ca' });
      const leaf = issueCertificate(intermediate, { commonName: 'localhost', hosts: ['localhost'], usage: 'server' });
      const dir = join(pki.dir, 'chain');
      mkdirSync(dir);
      writeFileSync(join(dir, 'leaf.crt'), leaf.certPem);
      writeFileSync(join(dir, 'leaf.key'), leaf.keyPem);
      writeFileSync(join(dir, 'chain.crt'), intermediate.certPem);
      await h.restart({ http: { tls: { mode: 'files', certFile: join(dir, 'leaf.crt'), keyFile: join(dir, 'leaf.key') } } });
      expect((await handshake(portOf(h), { ca: root.certPem })).error).to.match(/local issuer|unable to verify/i);
      await h.restart({ http: { tls: { mode: 'files', certFile: join(dir, 'leaf.crt'), keyFile: join(dir, 'leaf.key'), chainFile: join(dir, 'chain.crt') } } });
      expect((await handshake(portOf(h), { ca: root.certPem })).serial).to.equal(leaf.serial);
      await h.restart(tlsFiles(pki));
    });

    it('When the key is encrypted, then the passphrase file opens it', async () => {
      const encrypted = createPrivateKey(pki.server.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' }).toString();
      writeFileSync(join(pki.dir, 'encrypted.key'), encrypted);
      writeFileSync(join(pki.dir, 'passphrase'), 'correct horse\n');
      await h.restart(tlsFiles(pki, { keyFile: join(pki.dir, 'encrypted.key'), keyPassphraseFile: join(pki.dir, 'passphrase') }));
      expect((await handshake(portOf(h), { ca: pki.ca.certPem })).serial).to.equal(pki.server.serial);
      await h.restart(tlsFiles(pki));
    });
  });

  describe('client certificates', () => {
    let pki: Pki;
    let h: Harness;
    before(async () => {
      pki = makePki();
      h = await startHarness(tlsFiles(pki, { clientAuth: 'required', clientCaFile: pki.agentsCaFile }));
    });
    after(async () => {
      await h?.stop();
      rmSync(pki.dir, { recursive: true, force: true });
    });

    it('When client certificates are required, then a client without one, or with one from another CA, is refused at the handshake', async () => {
      expect((await handshake(portOf(h), { ca: pki.ca.certPem })).error).to.be.a('string');
      expect((await handshake(portOf(h), { ca: pki.ca.certPem, ...pki.foreignCert })).error).to.be.a('string');
      expect((await handshake(portOf(h), { ca: pki.ca.certPem, ...pki.agentCert })).serial).to.equal(pki.server.serial);
      const withoutCert = await sClient(portOf(h), ['-CAfile', pki.caFile, '-tls1_2'], LIVEZ);
      expect(withoutCert).to.match(/alert handshake failure|certificate required|alert number 40|alert number 116/i);
      expect(withoutCert).to.not.include('HTTP/1.1');
      // Node completes the handshake, sees the certificate did not verify, and closes the
      // connection before reading a byte: the request gets no answer.
      const certArgs = (c: { cert: string; key: string }, name: string) => ['-cert', writeTemp(pki, `${name}.crt`, c.cert), '-key', writeTemp(pki, `${name}.key`, c.key)];
      const withForeign = await sClient(portOf(h), ['-CAfile', pki.caFile, ...certArgs(pki.foreignCert, 'foreign')], LIVEZ);
      expect(withForeign).to.not.include('HTTP/1.1');
      const withAgent = await sClient(portOf(h), ['-CAfile', pki.caFile, ...certArgs(pki.agentCert, 'agent')], LIVEZ);
      expect(withAgent).to.include('HTTP/1.1 200');
    });

    it('When an agent presents a certificate of the agents CA, then it enrolls and checks in, and the request log names it', async () => {
      const agent = httpsAgentFor(pki.ca.certPem, pki.agentCert);
      const client = await enrollOver(h, agent);
      const res = await client.checkin({ status: 'online', message: 'Running' });
      expect(res.actions?.[0]?.type).to.equal('POLICY_CHANGE');
      const logged = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'request' && String(l['url.path']).endsWith('/checkin'));
      expect(logged.at(-1)).to.include({ 'tls.client.subject': 'CN=agent-1', 'tls.client.issuer': 'CN=Test agents CA' });
      agent.destroy();
    });

    it('When client certificates are optional, then no certificate is accepted, a good one too, and one from another CA is refused', async () => {
      await h.restart(tlsFiles(pki, { clientAuth: 'optional', clientCaFile: pki.agentsCaFile }));
      expect((await handshake(portOf(h), { ca: pki.ca.certPem })).serial).to.equal(pki.server.serial);
      expect((await handshake(portOf(h), { ca: pki.ca.certPem, ...pki.agentCert })).serial).to.equal(pki.server.serial);
      expect((await handshake(portOf(h), { ca: pki.ca.certPem, ...pki.foreignCert })).error).to.be.a('string');
    });

    it('When client authentication is none, then the server asks for no certificate and serves everyone', async () => {
      await h.restart(tlsFiles(pki, { clientAuth: 'none' }));
      expect((await handshake(portOf(h), { ca: pki.ca.certPem })).serial).to.equal(pki.server.serial);
      expect((await handshake(portOf(h), { ca: pki.ca.certPem, ...pki.foreignCert })).serial).to.equal(pki.server.serial);
      const out = await sClient(portOf(h), ['-CAfile', pki.caFile, '-tls1_2']);
      expect(out).to.include('No client certificate CA names sent');
    });
  });

  describe('certificate rotation', () => {
    let pki: Pki;
    let h: Harness;
    before(async () => {
      pki = makePki();
      h = await startHarness({ ...tlsFiles(pki, { reloadIntervalMs: 200 }), checkin: { longPollMs: 30_000, jitterMs: 0 } });
    });
    after(async () => {
      await h?.stop();
      rmSync(pki.dir, { recursive: true, force: true });
    });

    it('When the certificate files change under 50 open long polls, then new handshakes show the new serial and every poll is still answered on its connection', async () => {
      const agents: { client: FleetAgentClient; http: HttpsAgent }[] = [];
      for (let i = 0; i < 50; i++) {
        const http = httpsAgentFor(pki.ca.certPem);
        const client = await enrollOver(h, http);
        await ackAll(client, await client.checkin({ status: 'online', message: 'Running' }));
        agents.push({ client, http });
      }
      const settled: string[] = [];
      const polls = agents.map(({ client }) =>
        client.checkin({ status: 'online', message: 'Running' }).then(
          (res) => {
            settled.push('answered');
            return res;
          },
          (err: Error) => {
            settled.push(err.message);
            throw err;
          },
        ),
      );
      await eventually(() => h.server.gateway.registry.size >= 50, 10_000);
      const rotated = issueCertificate(pki.ca, { commonName: 'localhost', hosts: ['localhost', '127.0.0.1'], usage: 'server' });
      writeFileSync(pki.keyFile, rotated.keyPem);
      writeFileSync(pki.certFile, rotated.certPem);
      await eventually(async () => (await handshake(portOf(h), { ca: pki.ca.certPem })).serial === rotated.serial, 5_000, 100);
      expect(await sClientSerial(portOf(h), pki.caFile)).to.equal(rotated.serial);
      expect(settled, 'no poll ended when the certificate changed').to.deep.equal([]);
      expect(h.server.gateway.registry.size).to.be.at.least(50);

      // A new revision reaches every held poll, on the connection it was opened with.
      await request(h.url).put(`/api/fleet/agent_policies/${POLICY}`).ca(pki.ca.certPem).set(h.admin).send({ description: 'rotated' }).expect(200);
      const answers = await Promise.all(polls);
      expect(answers.every((r) => r.actions?.some((a) => a.type === 'POLICY_CHANGE'))).to.equal(true);
      expect(settled.filter((s) => s !== 'answered')).to.deep.equal([]);
      for (const { http } of agents) http.destroy();
    });

    it('When the new files are bad, then the error is logged and the certificate in use stays', async () => {
      const serving = (await handshake(portOf(h), { ca: pki.ca.certPem })).serial;
      const goodCert = readFileSync(pki.certFile, 'utf8');
      const goodKey = readFileSync(pki.keyFile, 'utf8');
      const before = h.logs.length;
      writeFileSync(pki.certFile, 'not a certificate\n');
      await eventually(() => h.logs.slice(before).some((l) => l.includes('cannot be used: keeping the current certificate')), 5_000);
      expect((await handshake(portOf(h), { ca: pki.ca.certPem })).serial).to.equal(serving);
      // A key of another certificate: refused the same way.
      const other = issueCertificate(pki.ca, { commonName: 'localhost', hosts: ['localhost'], usage: 'server' });
      writeFileSync(pki.certFile, goodCert);
      writeFileSync(pki.keyFile, other.keyPem);
      await eventually(() => h.logs.slice(before).some((l) => l.includes('does not belong to the certificate')), 5_000);
      expect((await handshake(portOf(h), { ca: pki.ca.certPem })).serial).to.equal(serving);
      writeFileSync(pki.keyFile, goodKey);
    });
  });

  describe('bad certificate settings at start', () => {
    let pki: Pki;
    before(() => {
      pki = makePki();
    });
    after(() => rmSync(pki.dir, { recursive: true, force: true }));

    const startFails = async (overrides: Record<string, unknown>): Promise<string> => {
      try {
        const h = await startHarness(overrides);
        await h.stop();
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('the server started');
    };

    it('When the certificate or key is missing, unreadable or of another key, then the start fails naming the file', async () => {
      expect(await startFails(tlsFiles(pki, { certFile: join(pki.dir, 'missing.crt') }))).to.match(/cannot read the TLS certificate \(http\.tls\.certFile\) .*missing\.crt: .*ENOENT/);
      expect(await startFails(tlsFiles(pki, { keyFile: pki.dir }))).to.match(new RegExp(`cannot read the TLS key \\(http\\.tls\\.keyFile\\) from ${pki.dir}: .*EISDIR`));
      const other = issueCertificate(pki.ca, { commonName: 'x', usage: 'server' });
      const otherKey = writeTemp(pki, 'other.key', other.keyPem);
      expect(await startFails(tlsFiles(pki, { keyFile: otherKey }))).to.include(`the TLS key ${otherKey} does not belong to the certificate ${pki.certFile}`);
      expect(await startFails(tlsFiles(pki, { certFile: pki.keyFile }))).to.include(`the TLS certificate ${pki.keyFile} is not a PEM certificate`);
      expect(await startFails({ http: { tls: { mode: 'files' } } })).to.include('no TLS certificate: set FLEET_TLS_CERT_FILE and FLEET_TLS_KEY_FILE');
      expect(await startFails(tlsFiles(pki, { clientAuth: 'required' }))).to.include('needs http.tls.clientCaFile');
      const encrypted = createPrivateKey(pki.server.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'right' }).toString();
      const encryptedFile = writeTemp(pki, 'enc.key', encrypted);
      expect(await startFails(tlsFiles(pki, { keyFile: encryptedFile, keyPassphraseFile: writeTemp(pki, 'wrong', 'wrong\n') }))).to.include(`cannot use the TLS key ${encryptedFile} with the passphrase in`);
    });

    it('When the certificate has expired, then the start reports it, and /api/status says so in its details', async () => {
      const expired = issueCertificate(pki.ca, {
        commonName: 'localhost',
        hosts: ['localhost', '127.0.0.1'],
        usage: 'server',
        notBefore: new Date(Date.now() - 10 * 86_400_000),
        notAfter: new Date(Date.now() - 86_400_000),
      });
      const h = await startHarness(tlsFiles(pki, { certFile: writeTemp(pki, 'expired.crt', expired.certPem), keyFile: writeTemp(pki, 'expired.key', expired.keyPem) }));
      try {
        expect(h.logs.some((l) => l.includes("expired on") && l.includes(`"level":"error"`))).to.equal(true);
        const res = await request(h.url).get('/api/status').disableTLSCerts();
        expect(res.body.details.tls.certificate).to.include({ expired: true, serial_number: expired.serial });
        expect(JSON.stringify(res.body)).to.not.include(pki.dir);
      } finally {
        await h.stop();
      }
    });
  });

  describe('client identity through a proxy', () => {
    let h: Harness;
    const sink: string[] = [];
    after(async () => h?.stop());

    it('When a TLS-terminating proxy forwards a verified client certificate, then only a trusted proxy is believed', async () => {
      for (const trustProxy of [[], ['127.0.0.1']]) {
        h = await startHarness({ http: { trustProxy } });
        await request(h.url)
          .get('/api/status')
          .set('ssl-client-verify', 'SUCCESS')
          .set('ssl-client-subject-dn', 'CN=forwarded-agent')
          .set('ssl-client-issuer-dn', 'CN=Agents CA')
          .expect(200);
        const line = h.logs.filter((l) => l.includes('"url.path":"/api/status"')).at(-1)!;
        sink.push(line);
        await h.stop();
      }
      expect(sink[0]).to.not.include('tls.client.subject');
      expect(JSON.parse(sink[1]!)).to.include({ 'tls.client.subject': 'CN=forwarded-agent', 'tls.client.issuer': 'CN=Agents CA' });
    });
  });
});

function writeTemp(pki: Pki, name: string, content: string): string {
  const path = join(pki.dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}
