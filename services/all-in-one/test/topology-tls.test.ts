import { FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { generateDeploymentCertificates } from '../../../deploy/tls/generate-certs';
import { tlsFetch, type TlsClientOptions } from '../../../deploy/tls/tls-fetch';
import { startTopology, type Topology } from '../../../deploy/topology/local-topology';
import { ackAll, eventually, localMetadata } from './support/fleet-server-harness';

/** What `openssl s_client` prints for one connection (stdin closed after `request`, if any). */
function sClient(args: string[], request = ''): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-ign_eof', ...args], { timeout: 10_000 }, (_err, stdout, stderr) => resolve(`${stdout}\n${stderr}`));
    child.stdin?.end(request);
  });
}

/**
 * A TLS connection that sends one request and reads the answer: resolves with the status line, or
 * rejects with the handshake's (or, under TLS 1.3, the first read's) error code.
 */
function requestOverTls(port: number, tls: TlsClientOptions, minVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.2', maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: tls.servername ?? 'localhost', ...tls, minVersion, maxVersion }, () => {
      socket.write('GET /api/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (answer += d));
    socket.on('error', (err: NodeJS.ErrnoException) => reject(Object.assign(new Error(err.message), { code: err.code ?? 'ERROR' })));
    socket.on('end', () => (answer ? resolve(answer.split('\r\n')[0] ?? '') : reject(Object.assign(new Error('closed without an answer'), { code: 'ECONNRESET' }))));
  });
}

const refusal = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'answered',
    (err: NodeJS.ErrnoException) => err.code ?? err.message,
  );

describe('The scaled-out topology with TLS on every hop: haproxy terminates (client certificates required) and re-encrypts to replicas that require its certificate', function () {
  this.timeout(120_000);
  let topo: Topology;
  let agentTls: TlsClientOptions;
  let lbPort: number;
  const other = mkdtempSync(join(tmpdir(), 'fleet-other-ca-'));
  let foreign: { cert: string; key: string; caFile: string; certFile: string; keyFile: string };
  const clients: FleetAgentClient[] = [];
  const agents: HttpsAgent[] = [];

  const logs = (): string => topo.replicas.map((r) => (r.logFile ? readFileSync(r.logFile, 'utf8') : '')).join('\n');
  const requestLines = (): Record<string, unknown>[] =>
    logs()
      .split('\n')
      .filter((l) => l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  before(async function () {
    this.timeout(180_000);
    // A second, unrelated set: its agent certificate is of another CA.
    const otherCerts = generateDeploymentCertificates({ out: other });
    foreign = {
      cert: readFileSync(otherCerts.files.agentCert, 'utf8'),
      key: readFileSync(otherCerts.files.agentKey, 'utf8'),
      caFile: otherCerts.files.ca,
      certFile: otherCerts.files.agentCert,
      keyFile: otherCerts.files.agentKey,
    };
    topo = await startTopology({
      // One shared SQLite file: the subject is the transport, not the store.
      redisUrl: process.env.FLEET_TEST_REDIS_URL ?? '',
      fromSource: true,
      gateways: 2,
      lbClientAuth: 'required',
      env: {
        FLEET_CHECKIN_LONG_POLL_MS: '2000',
        FLEET_CHECKIN_JITTER_MS: '0',
        FLEET_PBKDF2_ITERATIONS: '1000',
        FLEET_BUS_CHANNEL: `topology-tls-${process.pid}`,
        FLEET_JOBS_QUEUE: `topology-tls-jobs-${process.pid}`,
        // The request log carries tls.client.subject.
        FLEET_LOG_LEVEL: 'info',
      },
    });
    lbPort = Number(new URL(topo.url).port);
    agentTls = { ca: topo.ca, cert: topo.agentCert.cert, key: topo.agentCert.key };
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const a of agents) a.destroy();
    await topo?.close();
    rmSync(other, { recursive: true, force: true });
  });

  const agentClient = (headers?: Record<string, string>): FleetAgentClient => {
    const httpAgent = new HttpsAgent({ keepAlive: true, ...agentTls });
    agents.push(httpAgent);
    const c = new FleetAgentClient({ url: topo.url, httpAgent, ...(headers ? { headers } : {}) });
    clients.push(c);
    return c;
  };
  const enrollmentToken = () => readFileSync(join(topo.dataDir, 'enrollment-token'), 'utf8').trim();
  it("When an agent with a certificate of the agents' CA enrolls, checks in and acks over https trusting the topology's CA, then it works, and the replicas log the subject haproxy verified", async () => {
    expect(topo.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    const agent = agentClient();
    await agent.enroll(enrollmentToken(), { type: 'PERMANENT', metadata: { local: localMetadata('tls-agent') } });
    const res = await agent.checkin({ status: 'online', message: '' });
    expect(res.actions?.map((a) => a.type)).to.include('POLICY_CHANGE');
    expect((await ackAll(agent, res)).status).to.equal(200);
    expect(String(agent.lastResponseHeaders['x-fleet-replica'])).to.match(/^gateway-/);
    // haproxy's headers, in the DN form ingress-nginx sends.
    const lines = await eventually(() => {
      const found = requestLines().filter((l) => String(l['url.path']).includes(agent.agentId ?? '?'));
      return found.length >= 2 ? found : undefined;
    }, 10_000, 200);
    for (const l of lines) expect(l['tls.client.subject'], String(l['url.path'])).to.equal('CN=sample-agent');
    expect(lines[0]?.['tls.client.issuer']).to.equal('CN=Fleet agents CA');
    // The management API through the same front.
    const admin = `Bearer ${readFileSync(join(topo.dataDir, 'admin-token'), 'utf8').trim()}`;
    const list = await tlsFetch(`${topo.url}/api/fleet/agents`, { headers: { Authorization: admin } }, agentTls);
    expect(list.status).to.equal(200);
  });

  it('When a client presents no certificate, or one of another CA, then haproxy refuses it at the handshake (Node and openssl s_client), under TLS 1.2 and 1.3', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      expect(await requestOverTls(lbPort, agentTls, version, version), `${version} with the agent's certificate`).to.match(/^HTTP\/1\.1 200/);
      const none = await refusal(requestOverTls(lbPort, { ca: topo.ca }, version, version));
      expect(none, `${version} without a certificate`).to.match(/ALERT|ECONNRESET|EPIPE/);
      const wrongCa = await refusal(requestOverTls(lbPort, { ca: topo.ca, cert: foreign.cert, key: foreign.key }, version, version));
      expect(wrongCa, `${version} with another CA's certificate`).to.match(/ALERT|ECONNRESET|EPIPE/);
    }
    const request = 'GET /api/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
    const base = ['-connect', `127.0.0.1:${lbPort}`, '-servername', 'localhost', '-CAfile', topo.caFile, '-tls1_2'];
    const ok = await sClient([...base, '-cert', topo.agentCert.certFile, '-key', topo.agentCert.keyFile], request);
    expect(ok).to.contain('Verify return code: 0 (ok)').and.to.match(/HTTP\/1\.1 200/);
    const none = await sClient(base, request);
    expect(none).to.match(/alert handshake failure|alert certificate required/i).and.not.match(/HTTP\/1\.1 200/);
    const wrongCa = await sClient([...base, '-cert', foreign.certFile, '-key', foreign.keyFile], request);
    expect(wrongCa).to.match(/SSL alert number \d+/).and.not.match(/HTTP\/1\.1 200/);
    // TLS 1.1 and older are refused outright.
    expect(await sClient(['-connect', `127.0.0.1:${lbPort}`, '-tls1_1'])).to.match(/alert protocol version|no protocols available|unsupported protocol/i);
  });

  it("When a replica is reached directly, then only a client with the proxy's certificate (the internal CA) gets an answer", async () => {
    const gateway = topo.replicas.find((r) => r.service === 'checkin-gateway')!;
    const url = `https://127.0.0.1:${gateway.port}/api/status`;
    expect((await tlsFetch(url, {}, topo.proxyTls)).status).to.equal(200);
    const servername = topo.proxyTls.servername;
    expect(await refusal(requestOverTls(gateway.port, { ca: topo.ca, ...(servername ? { servername } : {}) })), 'no certificate').to.match(/ALERT|ECONNRESET|EPIPE/);
    expect(await refusal(requestOverTls(gateway.port, { ...agentTls, ...(servername ? { servername } : {}) })), "an agent's certificate (agents' CA)").to.match(/ALERT|ECONNRESET|EPIPE/);
    const request = 'GET /api/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
    const direct = await sClient(['-connect', `127.0.0.1:${gateway.port}`, '-CAfile', topo.caFile, '-tls1_2'], request);
    expect(direct).to.match(/SSL alert number \d+|alert handshake failure|alert certificate required/i).and.not.match(/HTTP\/1\.1 200/);
  });

  it("When an agent sends its own ssl-client-* headers, then haproxy replaces them: the replica sees the certificate's subject, never the forged one", async () => {
    const forged = { 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'CN=forged-admin', 'ssl-client-issuer-dn': 'CN=forged-ca' };
    const agent = agentClient(forged);
    await agent.enroll(enrollmentToken(), { type: 'PERMANENT', metadata: { local: localMetadata('forger') } });
    const res = await agent.checkin({ status: 'online', message: '' });
    await ackAll(agent, res);
    const lines = await eventually(() => {
      const found = requestLines().filter((l) => String(l['url.path']).includes(agent.agentId ?? '?'));
      return found.length >= 2 ? found : undefined;
    }, 10_000, 200);
    for (const l of lines) expect(l['tls.client.subject'], String(l['url.path'])).to.equal('CN=sample-agent');
    expect(logs()).to.not.contain('forged-admin').and.not.contain('forged-ca');
  });

  it("When haproxy only asks for a certificate (optional), then an agent without one is served and no subject reaches the replica, its forged headers included, while another CA's certificate still fails the handshake", async () => {
    const optional = await topo.addLoadBalancer({ clientAuth: 'optional' });
    const port = Number(new URL(optional.url).port);
    expect(await requestOverTls(port, { ca: topo.ca }), 'no certificate').to.match(/^HTTP\/1\.1 200/);
    expect(await refusal(requestOverTls(port, { ca: topo.ca, cert: foreign.cert, key: foreign.key })), "another CA's certificate").to.match(/ALERT|ECONNRESET|EPIPE/);

    const httpAgent = new HttpsAgent({ keepAlive: true, ca: topo.ca });
    agents.push(httpAgent);
    const forged = { 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'CN=forged-nobody', 'ssl-client-issuer-dn': 'CN=forged-nobody-ca' };
    const agent = new FleetAgentClient({ url: optional.url, httpAgent, headers: forged });
    clients.push(agent);
    await agent.enroll(enrollmentToken(), { type: 'PERMANENT', metadata: { local: localMetadata('no-certificate') } });
    const res = await agent.checkin({ status: 'online', message: '' });
    expect((await ackAll(agent, res)).status).to.equal(200);
    const lines = await eventually(() => {
      const found = requestLines().filter((l) => String(l['url.path']).includes(agent.agentId ?? '?'));
      return found.length >= 2 ? found : undefined;
    }, 10_000, 200);
    for (const l of lines) expect(l, String(l['url.path'])).to.not.have.property('tls.client.subject');
    expect(logs()).to.not.contain('forged-nobody');
  });
});
