import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reservePort, startRedisServer, startTopology, type Replica, type Topology } from '../deploy/topology/local-topology';
import type { EnrollResult } from './sim/fleet-simulator';
import { updatePolicy } from './sim/fleet-simulator';
import { distribution, scrapeMetric, tierUsage, type Distribution } from './sim/measurements';
import type { WorkerCommand } from './tier/simulator-worker';
import { LOAD_TEST_SETTINGS } from './fleet-server-process';
import { BenchReport, formatCounts, machineLine, out, sleep } from './bench-report';

/**
 * `npm run bench:tier`: the scaled-out tier at the fleet size. One process cannot hold
 * more than about 19,900 sockets here (20,000 open files), so the fleet is spread over
 * TIER_GATEWAYS checkin-gateway processes, each driven by its own simulator process (one
 * simulator per gateway, as a perfectly balanced L4 load balancer or a Kubernetes Service would
 * spread them; a simulator's sockets all go to one address and port, so the kernel picks their
 * ports at connect time, up to about 28,000 per destination). Enrollment and the management API go through haproxy to 2 enrollment and 2
 * policy-dispatcher replicas. All replicas share one embedded store (SQLite file) and one Redis.
 *
 * Environment: TIER_AGENTS (default 100,000), TIER_GATEWAYS (default 7), TIER_RECONNECT
 * (0 skips the reconnect storm). Prints one table; figures go to loadtest/results/.
 */
const AGENTS = Number(process.env.TIER_AGENTS ?? 100_000);
const GATEWAYS = Number(process.env.TIER_GATEWAYS ?? 7);
const RECONNECT = process.env.TIER_RECONNECT !== '0';
const POLICY = 'fleet-default-policy';
const PER_PROCESS_SOCKETS = 18_000;

const ms = (v: number) => `${Math.round(v).toLocaleString('en')} ms`;
const report = new BenchReport();
const row = report.row.bind(report);

/** A simulator process and a promise-per-request channel to it. */
class SimulatorProcess {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly child: ChildProcess;

  constructor(readonly name: string) {
    this.child = fork(join(__dirname, 'tier', 'simulator-worker.ts'), [], {
      execArgv: ['--conditions=@fleet/source', '--import', 'tsx', '--max-old-space-size=4096', '--max-semi-space-size=32'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error !== undefined) w?.reject(new Error(`${name}: ${m.error}`));
      else w?.resolve(m.result);
    });
    this.child.once('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`${name} exited (${code ?? 'signal'})`));
      this.waiting.clear();
    });
  }

  request<T>(req: WorkerCommand): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...req, id });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.request({ op: 'stop' }).catch(() => this.child.kill('SIGKILL'));
    await exited;
  }
}

/** Counts by key, summed over several tallies. */
function sumCounts(tallies: Record<string, number>[]): Record<string, number> {
  const all: Record<string, number> = {};
  for (const [k, v] of tallies.flatMap((t) => Object.entries(t))) all[k] = (all[k] ?? 0) + v;
  return all;
}

/** Failures of every simulator summed, as `{ status-or-code: count }`. */
async function errorCounts(sims: SimulatorProcess[]): Promise<Record<string, number>> {
  return sumCounts(await Promise.all(sims.map((s) => s.request<Record<string, number>>({ op: 'errors' }))));
}

/** The failures in `now` beyond those in `before`. */
const since = (now: Record<string, number>, before: Record<string, number>): string =>
  formatCounts(Object.fromEntries(Object.entries(now).flatMap(([k, v]) => (v > (before[k] ?? 0) ? [[k, v - (before[k] ?? 0)]] : []))));

async function main(): Promise<void> {
  const perGateway = Math.ceil(AGENTS / GATEWAYS);
  if (perGateway > PER_PROCESS_SOCKETS) {
    throw new Error(`${AGENTS} agents over ${GATEWAYS} gateways is ${perGateway} sockets per process; this machine allows about ${PER_PROCESS_SOCKETS} (raise TIER_GATEWAYS)`);
  }
  out(`fleet-server-ts tier bench: ${AGENTS.toLocaleString('en')} agents over ${GATEWAYS} gateways; ${machineLine}; every process on this machine`);
  const dir = mkdtempSync(join(tmpdir(), 'fleet-tier-'));
  const redis = await startRedisServer(join(dir, 'redis'), await reservePort());
  let topology: Topology | undefined;
  const sims: SimulatorProcess[] = [];
  try {
    topology = await startTopology({
      redisUrl: redis.url,
      gateways: GATEWAYS,
      dataDir: join(dir, 'fleet'),
      env: { ...LOAD_TEST_SETTINGS, FLEET_LOG_LEVEL: 'warn' },
    });
    const topo = topology;
    const gateways = topo.replicas.filter((r) => r.service === 'checkin-gateway');
    const enrollmentToken = readFileSync(join(topo.dataDir, 'enrollment-token'), 'utf8').trim();
    const adminToken = readFileSync(join(topo.dataDir, 'admin-token'), 'utf8').trim();
    const share = (i: number) => Math.floor(AGENTS / GATEWAYS) + (i < AGENTS % GATEWAYS ? 1 : 0);
    for (let i = 0; i < gateways.length; i++) sims.push(new SimulatorProcess(`simulator-${i + 1}`));
    await Promise.all(
      sims.map((s, i) =>
        // Enrollment through haproxy (its public certificate); checkins straight to one gateway, over
        // TLS with the proxy's client certificate, which the replicas require.
        s.request({ op: 'init', options: { url: topo.url, tls: topo.clientTls, checkinUrl: `https://127.0.0.1:${gateways[i]?.port ?? 0}`, checkinTls: topo.proxyTls, enrollmentToken, adminToken } }),
      ),
    );
    const held = async (): Promise<number> => (await Promise.all(gateways.map((g: Replica) => scrapeMetric(`http://127.0.0.1:${g.metricsPort}/metrics`, 'fleet_checkin_inflight_longpolls')))).reduce((a, b) => a + b, 0);
    const waitHeld = async (timeoutMs: number): Promise<number> => {
      const start = Date.now();
      let reported = start;
      for (let n = await held(); n < AGENTS; n = await held()) {
        if (Date.now() - start > timeoutMs) throw new Error(`only ${n} of ${AGENTS} polls held after ${timeoutMs} ms; failures: ${JSON.stringify(await errorCounts(sims))}`);
        if (Date.now() - reported >= 15_000) {
          reported = Date.now();
          out(`    … ${n.toLocaleString('en')} held after ${Math.round((reported - start) / 1000)} s; failures so far: ${JSON.stringify(await errorCounts(sims))}`);
        }
        await sleep(500);
      }
      return (Date.now() - start) / 1000;
    };
    const gatewayPids = () => gateways.map((g) => g.process.pid ?? 0);

    // 1. Enrollment through haproxy (2 enrollment replicas, one SQLite file).
    const t0 = Date.now();
    const enrolled = await Promise.all(sims.map((s, i) => s.request<EnrollResult>({ op: 'enroll', count: share(i), concurrency: 16 })));
    const enrollSeconds = (Date.now() - t0) / 1000;
    const enrollErrors = sumCounts(enrolled.map((e) => e.errors));
    row('enrollment', `${AGENTS.toLocaleString('en')} enrollments via haproxy, ${16 * sims.length} at a time`, `${Math.round(AGENTS / enrollSeconds)}/s over ${enrollSeconds.toFixed(0)} s; retried: ${formatCounts(enrollErrors)}`);

    // 2. First checkin of every agent at its gateway, and the policy ack.
    const t1 = Date.now();
    const primed = await Promise.all(sims.map((s) => s.request<Distribution>({ op: 'prime', concurrency: 16 })));
    row('first checkin', `${AGENTS.toLocaleString('en')} agents`, `${Math.round(AGENTS / ((Date.now() - t1) / 1000))}/s; p99 per simulator ${primed.map((d) => Math.round(d.p99)).join('/')} ms`);

    // 3. Every agent long-polls; memory of the gateway tier per held poll.
    await sleep(3_000);
    const before = tierUsage(gatewayPids());
    const errorsBeforeHold = await errorCounts(sims);
    await Promise.all(sims.map((s) => s.request({ op: 'hold' })));
    const heldIn = await waitHeld(900_000);
    await sleep(5_000);
    const after = tierUsage(gatewayPids());
    const mib = (b: number) => Math.round(b / 2 ** 20).toLocaleString('en');
    row('held polls', `${AGENTS.toLocaleString('en')} long polls on ${GATEWAYS} gateways`, `all held ${heldIn.toFixed(0)} s after the loops started; failures: ${since(await errorCounts(sims), errorsBeforeHold)}`, '100,000, no errors');
    row('held polls', 'gateway tier RSS per held poll', `${((after.rssBytes - before.rssBytes) / AGENTS / 1024).toFixed(1)} KB (tier RSS ${mib(after.rssBytes)} MiB = ${(after.rssBytes / AGENTS / 1024).toFixed(1)} KB per agent with ${GATEWAYS} process baselines)`, '≤ 20 KB per agent');
    const idle0 = tierUsage(gatewayPids());
    await sleep(30_000);
    const idle1 = tierUsage(gatewayPids());
    row('held polls', 'gateway tier CPU while holding (30 s)', `${(((idle1.cpuSeconds - idle0.cpuSeconds) / 30) * 100).toFixed(1)} % of one core`);

    // 4. Policy rollout: one management API call, every agent must get the new revision.
    const errorsBeforeRollout = await errorCounts(sims);
    const update = await updatePolicy(topo.url, adminToken, POLICY, topo.clientTls);
    const deadline = update.sent + 300_000;
    const deliveries = await Promise.all(sims.map((s) => s.request<{ agents: number; delays: number[]; missing: number }>({ op: 'awaitRevision', policyId: POLICY, revision: update.revision, sent: update.sent, deadline })));
    const d = distribution(deliveries.flatMap((x) => x.delays));
    const missing = deliveries.reduce((n, x) => n + x.missing, 0);
    row(
      'policy rollout',
      `to ${AGENTS.toLocaleString('en')} agents (API call ${ms(update.apiMs)})`,
      `p50 ${ms(d.p50)}, p90 ${ms(d.p90)}, p99 ${ms(d.p99)}, p100 ${ms(d.p100)}; missing ${missing}; failures: ${since(await errorCounts(sims), errorsBeforeRollout)}`,
      'p100 ≤ 15 s at 100,000',
    );

    // 5. Reconnect storm: every gateway restarts at once (SIGTERM, as a rolling update's worst case).
    if (RECONNECT) {
      await sleep(5_000);
      const restartAt = Date.now();
      await Promise.all(gateways.map((g) => topo.stop(g.name)));
      const errorsWhileDown = await errorCounts(sims);
      await Promise.all(gateways.map((g) => topo.restart(g.name)));
      const listened = Date.now();
      const errorsListening = await errorCounts(sims);
      await waitHeld(300_000);
      // From `listened`, not from when waitHeld began: asking the busy simulators for their
      // failure counts can itself take seconds.
      const back = (Date.now() - listened) / 1000;
      row(
        'reconnect storm',
        `${AGENTS.toLocaleString('en')} agents, all ${GATEWAYS} gateways restarted at once`,
        `all long-polling again ${((Date.now() - restartAt) / 1000).toFixed(1)} s after the restart began (${back.toFixed(1)} s after every gateway listened, ${((listened - restartAt) / 1000).toFixed(1)} s to restart them); failures while restarting: ${since(errorsListening, errorsWhileDown)}; after they listened: ${since(await errorCounts(sims), errorsListening)}`,
        '≤ 60 s, only 429',
      );
    }
  } finally {
    await Promise.allSettled(sims.map((s) => s.stop()));
    await topology?.close();
    redis.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  report.finish('bench-tier', { agents: AGENTS, gateways: GATEWAYS });
}

main().catch((err: unknown) => {
  process.stderr.write(`tier bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
