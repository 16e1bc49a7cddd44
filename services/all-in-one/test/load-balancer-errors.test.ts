import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reservePort } from '../../../deploy/topology/local-topology';
import { generateDeploymentCertificates } from '../../../deploy/tls/generate-certs';
import { tlsFetch } from '../../../deploy/tls/tls-fetch';
import { REPO_ROOT } from './support/deploy-tools';
import { eventually } from './support/fleet-server-harness';

describe('haproxy (deploy/haproxy/haproxy.cfg) with no replica ready', function () {
  this.timeout(30_000);
  let lb: ChildProcess;
  let url: string;
  let ca: string;
  const dir = mkdtempSync(join(tmpdir(), 'fleet-lb-errors-'));

  before(async () => {
    const certs = generateDeploymentCertificates({ out: dir });
    ca = readFileSync(certs.files.ca, 'utf8');
    const port = await reservePort();
    // Every replica address is a closed port: the health checks fail, as they do while the store is away.
    const closed = `127.0.0.1:${await reservePort()}`;
    lb = spawn('haproxy', ['-f', join(REPO_ROOT, 'deploy', 'haproxy', 'haproxy.cfg'), '-db'], {
      env: {
        PATH: process.env.PATH,
        FLEET_LB_BIND: `127.0.0.1:${port}`,
        FLEET_LB_MAXCONN: '1000',
        ...Object.fromEntries(['GATEWAY_1', 'GATEWAY_2', 'GATEWAY_3', 'ENROLLMENT_1', 'ENROLLMENT_2', 'DISPATCHER_1', 'DISPATCHER_2'].map((k) => [`FLEET_${k}`, closed])),
        FLEET_LB_CERT: certs.files.lbPem,
        FLEET_LB_CLIENT_CA: certs.files.agentsCa,
        FLEET_LB_BACKEND_CA: certs.files.ca,
        FLEET_LB_BACKEND_CERT: certs.files.proxyClientPem,
      },
      stdio: 'ignore',
    });
    url = `https://127.0.0.1:${port}`;
  });
  after(async () => {
    if (lb.exitCode === null && lb.signalCode === null) {
      const exited = new Promise((r) => lb.once('exit', r));
      lb.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [route, method] of [
    ['/api/fleet/agents/some-agent/checkin', 'POST'],
    ['/api/fleet/agents/enroll', 'POST'],
    ['/api/fleet/agent_policies', 'GET'],
  ] as const) {
    it(`When ${method} ${route} finds every replica down, then it answers 503 with Retry-After and the services' JSON error shape, as a replica would while its store is away`, async () => {
      const res = await eventually(async () => {
        const r = await tlsFetch(`${url}${route}`, { method, ...(method === 'POST' ? { body: '{}' } : {}) }, { ca }).catch(() => undefined);
        return r?.status === 503 ? r : undefined;
      }, 10_000, 100);
      expect(res.headers.get('retry-after')).to.equal('5');
      expect(res.headers.get('content-type')).to.equal('application/json');
      expect(await res.json()).to.deep.equal({ statusCode: 503, error: 'ServiceUnavailable', message: 'no replica is ready to serve this request; retry later' });
    });
  }
});
