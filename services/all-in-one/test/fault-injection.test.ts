import { ElasticsearchFleetStore } from '@fleet/store';
import { expect } from 'chai';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { reservePort, startTopology, type Topology } from '../../../deploy/topology/local-topology';
import { testConnection } from '../../../libs/store/test/support/elasticsearch-env';
import { wipeFleetIndices } from './support/elasticsearch-admin';
import { CI_FAULTS, ES_PROXY, FAULTS, FaultAgent, Ledger, Management, REDIS_PROXY, matrixTable, runFault, type FaultRunResult } from './support/fault-matrix';
import { Toxiproxy } from './support/toxiproxy';

/**
 * Faults injected with a real fault proxy (toxiproxy) between every replica of the scaled-out
 * topology and its Elasticsearch and Redis, during a rollout and an enrollment storm.
 *
 * CI runs a representative subset (CI_FAULTS) on a small fleet; `npm run faults` runs the whole
 * matrix (FLEET_FAULT_MATRIX=full) on a larger one and writes the table to FLEET_FAULT_REPORT_DIR/matrix.md.
 */
const FULL = process.env.FLEET_FAULT_MATRIX === 'full';
const SIZE = FULL ? { fleet: 100, storm: 40, actions: 40, faultMs: 15_000 } : { fleet: 30, storm: 10, actions: 10, faultMs: 8_000 };
const SELECTED = FAULTS.filter((f) => FULL || CI_FAULTS.includes(f.name));
const POLICY = 'fleet-default-policy';
const RECOVER_WITHIN_MS = 60_000;

const hostPort = (url: string) => new URL(url).host;

describe(`Faults injected between the replicas and Elasticsearch and Redis (toxiproxy; ${FULL ? 'full matrix' : 'CI subset'})`, function () {
  this.timeout(600_000);
  let tp: Toxiproxy;
  let topo: Topology;
  let store: ElasticsearchFleetStore;
  let management: Management;
  let enrollmentToken: string;
  // Through haproxy over TLS, trusting the topology's CA (made when it starts).
  let httpAgent: HttpsAgent | undefined;
  const fleet: FaultAgent[] = [];
  const results: FaultRunResult[] = [];

  before(async () => {
    await wipeFleetIndices();
    tp = await Toxiproxy.start(await reservePort());
    const esListen = `127.0.0.1:${await reservePort()}`;
    const redisListen = `127.0.0.1:${await reservePort()}`;
    await tp.createProxy(ES_PROXY, esListen, hostPort(process.env.FLEET_ES_URL ?? ''));
    await tp.createProxy(REDIS_PROXY, redisListen, hostPort(process.env.FLEET_TEST_REDIS_URL ?? ''));
    topo = await startTopology({
      elasticsearch: { url: `http://${esListen}`, serviceTokenFile: process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '' },
      redisUrl: `redis://${redisListen}`,
      fromSource: true,
      env: {
        FLEET_CHECKIN_LONG_POLL_MS: '20000',
        FLEET_CHECKIN_JITTER_MS: '0',
        FLEET_PBKDF2_ITERATIONS: '1000',
        FLEET_FEED_POLL_INTERVAL_MS: '1000',
        // Requests swallowed by the proxy fail after this (the default, 30 s, only slows the test).
        FLEET_ES_REQUEST_TIMEOUT_MS: '5000',
        FLEET_BUS_CHANNEL: `faults-${process.pid}`,
        FLEET_JOBS_QUEUE: `faults-jobs-${process.pid}`,
        FLEET_LOG_LEVEL: process.env.FLEET_LOG_LEVEL ?? 'warn',
      },
    });
    store = await ElasticsearchFleetStore.open(testConnection());
    httpAgent = new HttpsAgent({ keepAlive: true, maxSockets: 1000, ca: topo.ca });
    management = new Management(topo.url, readFileSync(join(topo.dataDir, 'admin-token'), 'utf8').trim(), topo.clientTls);
    enrollmentToken = readFileSync(join(topo.dataDir, 'enrollment-token'), 'utf8').trim();
    // The fleet, enrolled and on the current revision before any fault.
    const setup = new Ledger();
    for (let i = 0; i < SIZE.fleet; i += 25) {
      fleet.push(...(await Promise.all(Array.from({ length: Math.min(25, SIZE.fleet - i) }, (_, j) => FaultAgent.enroll(topo.url, httpAgent!, enrollmentToken, `fleet-${i + j}`, setup)))));
    }
    expect(setup.violations, 'answers other than 2xx or 503/429 + Retry-After while enrolling').to.deep.equal([]);
  });

  after(async () => {
    for (const a of fleet) a.client.close();
    httpAgent?.destroy();
    await topo?.close();
    await tp?.close();
    await store?.close();
    const report = process.env.FLEET_FAULT_REPORT_DIR;
    if (report && results.length > 0) {
      mkdirSync(report, { recursive: true });
      writeFileSync(join(report, 'matrix.md'), `${matrixTable(results)}\n\n<!-- raw -->\n\`\`\`json\n${JSON.stringify(results, null, 2)}\n\`\`\`\n`);
    }
  });

  for (const fault of SELECTED) {
    it(`${fault.name}: ${fault.injected}; then no acked action is lost or duplicated, no status write is lost, every refusal is 503/429 with Retry-After, and the fleet converges by itself`, async () => {
      const result = await runFault({
        name: fault.name,
        injected: fault.injected,
        url: topo.url,
        tls: topo.clientTls,
        httpAgent: httpAgent!,
        management,
        enrollmentToken,
        policyId: POLICY,
        fleet,
        stormSize: SIZE.storm,
        actionAgents: SIZE.actions,
        faultMs: SIZE.faultMs,
        inject: () => fault.inject(tp),
        clear: () => tp.reset(),
        store,
        recoverWithinMs: RECOVER_WITHIN_MS,
      });
      results.push(result);
      process.stderr.write(`${fault.name}: ${JSON.stringify({ ...result, notes: result.notes.slice(0, 10), violations: result.violations.slice(0, 10) })}\n`);
      expect(result.violations, 'answers other than 2xx or 503/429 + Retry-After').to.deep.equal([]);
      expect(result.lost, result.notes.join('\n')).to.equal(0);
      expect(result.duplicated, result.notes.join('\n')).to.equal(0);
      expect(result.statusWritesLost, result.notes.join('\n')).to.equal(0);
      expect(result.converged, result.notes.join('\n')).to.equal(true);
      expect(result.recoverMs).to.be.lessThan(RECOVER_WITHIN_MS);
      expect(topo.replicas.every((r) => r.process.exitCode === null && r.process.signalCode === null), 'no replica exited or was restarted').to.equal(true);
    });
  }
});
