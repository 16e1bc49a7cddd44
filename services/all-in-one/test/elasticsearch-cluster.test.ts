import { ElasticsearchFleetStore } from '@fleet/store';
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FaultAgent, Ledger, Management, matrixTable, runFault } from './support/fault-matrix';
import { startHarness, type Harness } from './support/fleet-server-harness';

const script = resolve(__dirname, '../../../deploy/elasticsearch/es-cluster.sh');
const cluster = (...args: string[]) => execFileSync(script, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 420_000 }).trim();
const FULL = process.env.FLEET_FAULT_MATRIX === 'full';
const SIZE = FULL ? { fleet: 100, storm: 40, actions: 40 } : { fleet: 30, storm: 10, actions: 10 };

describe('A three-node Elasticsearch cluster loses a node during a rollout (dedicated cluster)', function () {
  this.timeout(900_000);
  let workDir: string;
  let env: Record<string, string>;
  let h: Harness;
  let store: ElasticsearchFleetStore;
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 1000 });
  const fleet: FaultAgent[] = [];
  let auth: string;

  const admin = async <T>(path: string): Promise<T> => {
    // Any live node will do: the first may be the one killed.
    let last: unknown;
    for (const url of (env.FLEET_ES_URLS ?? '').split(',')) {
      try {
        const res = await fetch(`${url}${path}`, { headers: { authorization: auth } });
        if (res.ok) return (await res.json()) as T;
        last = new Error(`${res.status} ${await res.text()}`);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  };

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'fleet-es-cluster-'));
    const envFile = cluster('start', workDir, '3');
    env = Object.fromEntries(
      readFileSync(envFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    auth = `Basic ${Buffer.from(`elastic:${readFileSync(env.FLEET_ES_PASSWORD_FILE ?? '', 'utf8').trim()}`).toString('base64')}`;
    const hosts = (env.FLEET_ES_URLS ?? '').split(',');
    h = await startHarness({
      log: { level: 'warn' },
      store: { backend: 'elasticsearch', elasticsearch: { hosts, serviceTokenFile: env.FLEET_ES_SERVICE_TOKEN_FILE, requestTimeoutMs: 10_000, bulkFlushIntervalMs: 50 } },
      checkin: { longPollMs: 20_000 },
    });
    store = await ElasticsearchFleetStore.open({ hosts, serviceToken: readFileSync(env.FLEET_ES_SERVICE_TOKEN_FILE ?? '', 'utf8').trim(), requestTimeoutMs: 10_000 });
    // Enrolled as agents do, retrying a 503 (a fresh cluster on a busy machine can be slow at first).
    const setup = new Ledger();
    for (let i = 0; i < SIZE.fleet; i += 10) {
      fleet.push(...(await Promise.all(Array.from({ length: Math.min(10, SIZE.fleet - i) }, (_, j) => FaultAgent.enroll(h.url, httpAgent, h.enrollmentToken, `cluster-${i + j}`, setup)))));
    }
    expect(setup.violations, 'answers other than 2xx or 503/429 + Retry-After while enrolling').to.deep.equal([]);
  });

  after(async () => {
    // The server's warnings and errors, for reading a failed run.
    const report = process.env.FLEET_FAULT_REPORT_DIR;
    if (report && h) {
      mkdirSync(report, { recursive: true });
      writeFileSync(join(report, 'cluster-server.log'), `${h.logs.join('\n')}\n`);
    }
    for (const a of fleet) a.client.close();
    httpAgent.destroy();
    await h?.stop();
    await store?.close();
    if (workDir) {
      try {
        cluster('clean', workDir);
      } finally {
        rmSync(workDir, { recursive: true, force: true });
      }
    }
  });

  it('When the node holding the .fleet-agents primary is killed (SIGKILL) during a rollout and an enrollment storm, then nothing acked is lost or duplicated and every agent converges', async () => {
    // Before the kill: every .fleet-* index has a replica on another node, and the cluster is green.
    const health = await admin<{ status: string; number_of_nodes: number }>('/_cluster/health?wait_for_status=green&timeout=30s');
    expect(health).to.include({ status: 'green', number_of_nodes: 3 });
    const shards = await admin<{ index: string; prirep: string; node: string; state: string }[]>('/_cat/shards/.fleet-*?format=json');
    const indices = new Set(shards.map((s) => s.index));
    expect([...indices]).to.include.members(['.fleet-agents', '.fleet-actions', '.fleet-policies']);
    for (const index of indices) {
      const copies = shards.filter((s) => s.index === index && s.state === 'STARTED');
      expect(copies.map((s) => s.prirep).sort(), index).to.deep.equal(['p', 'r']);
      expect(new Set(copies.map((s) => s.node)).size, `${index}: primary and replica on different nodes`).to.equal(2);
    }
    const victim = shards.find((s) => s.index === '.fleet-agents' && s.prirep === 'p')?.node ?? 'node-1';
    const result = await runFault({
      name: 'es-node-killed',
      injected: `3-node cluster: ${victim} (primary of .fleet-agents) killed with SIGKILL, not restarted`,
      url: h.url,
      httpAgent,
      management: new Management(h.url, h.admin.Authorization.replace(/^Bearer /, '')),
      enrollmentToken: h.enrollmentToken,
      policyId: 'fleet-default-policy',
      fleet,
      stormSize: SIZE.storm,
      actionAgents: SIZE.actions,
      faultMs: 10_000,
      inject: () => {
        cluster('kill', workDir, victim.replace(/^node-/, ''));
        return Promise.resolve();
      },
      // The node stays dead: the two survivors carry on.
      clear: () => Promise.resolve(),
      store,
      recoverWithinMs: 90_000,
    });
    process.stderr.write(`es-node-killed: ${JSON.stringify({ ...result, notes: result.notes.slice(0, 10), violations: result.violations.slice(0, 10) })}\n`);
    const report = process.env.FLEET_FAULT_REPORT_DIR;
    if (report) {
      mkdirSync(report, { recursive: true });
      writeFileSync(join(report, 'cluster.md'), `${matrixTable([result])}\n\n\`\`\`json\n${JSON.stringify(result, null, 2)}\n\`\`\`\n`);
    }
    expect(result.violations, 'answers other than 2xx or 503/429 + Retry-After').to.deep.equal([]);
    expect(result.lost, result.notes.join('\n')).to.equal(0);
    expect(result.duplicated).to.equal(0);
    expect(result.statusWritesLost, result.notes.join('\n')).to.equal(0);
    expect(result.converged, result.notes.join('\n')).to.equal(true);
    // The two survivors promoted the replicas: yellow (one copy each) and nothing unassigned as primary.
    const after = await admin<{ status: string; number_of_nodes: number }>('/_cluster/health');
    expect(after.number_of_nodes).to.equal(2);
    expect(after.status).to.be.oneOf(['yellow', 'green']);
  });
});
