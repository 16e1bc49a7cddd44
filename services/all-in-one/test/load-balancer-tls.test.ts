import { issueCertificate } from '@fleet/service-kit';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { generateDeploymentCertificates, REPLICA_TLS_NAME, type DeploymentCertificates } from '../../../deploy/tls/generate-certs';
import { tlsFetch } from '../../../deploy/tls/tls-fetch';
import { reservePort } from '../../../deploy/topology/local-topology';
import { REPO_ROOT } from './support/deploy-tools';
import { eventually } from './support/fleet-server-harness';

interface Echo {
  headers: Record<string, string | string[] | undefined>;
  /** The common name of the client certificate the "replica" saw (haproxy's). */
  peer: string;
}

/** A stand-in replica: HTTPS with a client certificate required, echoing what it received. */
function echoReplica(tls: { cert: string; key: string; ca: string }): Promise<{ server: Server; port: number }> {
  const server = createServer({ ...tls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate().subject?.CN;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ headers: req.headers, peer: Array.isArray(peer) ? peer.join(',') : (peer ?? '') } satisfies Echo));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

describe('haproxy (deploy/haproxy/haproxy.cfg) with TLS: what it checks and what it tells the replicas', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'fleet-lb-tls-'));
  const otherDir = mkdtempSync(join(tmpdir(), 'fleet-lb-tls-other-'));
  let certs: DeploymentCertificates;
  let other: DeploymentCertificates;
  let lb: ChildProcess | undefined;
  let url: string;
  const servers: Server[] = [];
  const read = (f: string) => readFileSync(f, 'utf8');

  before(async () => {
    certs = generateDeploymentCertificates({ out: dir });
    other = generateDeploymentCertificates({ out: otherDir });
    const ca = read(certs.files.ca);
    const replica = await echoReplica({ cert: read(certs.files.serverCert), key: read(certs.files.serverKey), ca });
    // Impostors: a certificate of another CA, and one of the right CA without the replicas' name.
    const foreign = await echoReplica({ cert: read(other.files.serverCert), key: read(other.files.serverKey), ca });
    const misnamed = issueCertificate({ certPem: ca, keyPem: read(certs.files.caKey) }, { commonName: 'elsewhere', hosts: ['elsewhere', '127.0.0.1'], usage: 'server' });
    const wrongName = await echoReplica({ cert: misnamed.certPem, key: misnamed.keyPem, ca });
    servers.push(replica.server, foreign.server, wrongName.server);
    const at = (p: number) => `127.0.0.1:${p}`;
    const port = await reservePort();
    lb = spawn('haproxy', ['-f', join(REPO_ROOT, 'deploy', 'haproxy', 'haproxy.cfg'), '-db'], {
      env: {
        PATH: process.env.PATH,
        FLEET_LB_BIND: `127.0.0.1:${port}`,
        FLEET_LB_MAXCONN: '1000',
        FLEET_GATEWAY_1: at(replica.port),
        FLEET_GATEWAY_2: at(replica.port),
        FLEET_GATEWAY_3: at(replica.port),
        // Enrollment only on the impostor of another CA, the dispatchers only on the misnamed one.
        FLEET_ENROLLMENT_1: at(foreign.port),
        FLEET_ENROLLMENT_2: at(foreign.port),
        FLEET_DISPATCHER_1: at(wrongName.port),
        FLEET_DISPATCHER_2: at(wrongName.port),
        FLEET_LB_CERT: certs.files.lbPem,
        FLEET_LB_CLIENT_CA: certs.files.agentsCa,
        FLEET_LB_BACKEND_CA: certs.files.ca,
        FLEET_LB_BACKEND_CERT: certs.files.proxyClientPem,
        FLEET_LB_BACKEND_NAME: REPLICA_TLS_NAME,
      },
      stdio: 'ignore',
    });
    url = `https://127.0.0.1:${port}`;
    await eventually(async () => (await tlsFetch(`${url}/api/status`, {}, { ca }).catch(() => undefined))?.status === 200, 10_000, 100);
  });
  after(async () => {
    if (lb && lb.exitCode === null && lb.signalCode === null) {
      const exited = new Promise((r) => lb?.once('exit', r));
      lb.kill('SIGTERM');
      await exited;
    }
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(otherDir, { recursive: true, force: true });
  });

  const forged = { 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'CN=forged', 'ssl-client-issuer-dn': 'CN=forged-ca', 'x-forwarded-proto': 'http' };
  const echo = async (tls: { cert?: string; key?: string }): Promise<Echo> => {
    const res = await tlsFetch(`${url}/api/fleet/agents/a1/checkin`, { method: 'POST', headers: forged, body: '{}' }, { ca: read(certs.files.ca), ...tls });
    expect(res.status).to.equal(200);
    return (await res.json()) as Echo;
  };

  it("When a client without a certificate sends its own ssl-client-* headers, then the replica gets haproxy's: verify NONE and no names, over TLS with haproxy's client certificate", async () => {
    const got = await echo({});
    expect(got.peer).to.equal('fleet-proxy');
    expect(got.headers['ssl-client-verify']).to.equal('NONE');
    expect(got.headers).to.not.have.property('ssl-client-subject-dn');
    expect(got.headers).to.not.have.property('ssl-client-issuer-dn');
    expect(got.headers['x-forwarded-proto']).to.equal('https');
  });

  it('When an agent presents a certificate of the agents\' CA, then the replica gets SUCCESS and its subject and issuer in RFC 2253 form, whatever the agent claimed', async () => {
    const got = await echo({ cert: read(certs.files.agentCert), key: read(certs.files.agentKey) });
    expect(got.headers['ssl-client-verify']).to.equal('SUCCESS');
    expect(got.headers['ssl-client-subject-dn']).to.equal('CN=sample-agent');
    expect(got.headers['ssl-client-issuer-dn']).to.equal('CN=Fleet agents CA');
  });

  it("When a backend's certificate is of another CA, or lacks the replicas' name, then haproxy never sends it traffic: 503 with Retry-After", async () => {
    for (const [route, init] of [
      ['/api/fleet/agents/enroll', { method: 'POST', body: '{}' }],
      ['/api/fleet/agent_policies', {}],
    ] as const) {
      const res = await eventually(async () => {
        const r = await tlsFetch(`${url}${route}`, init, { ca: read(certs.files.ca) });
        return r.status === 503 ? r : undefined;
      }, 10_000, 200);
      expect(res.headers.get('retry-after'), route).to.equal('5');
    }
  });
});
