import { BenchReport, formatCounts, machineLine, out, sleep } from './bench-report';
import { FleetSimulator } from './sim/fleet-simulator';
import { cpuPerCheckin, processUsage } from './sim/measurements';
import { LOAD_TEST_SETTINGS, startServerProcess, type ServerProcess } from './fleet-server-process';
import { measureFloor } from './checkin-floor';
import { benchStore, startBenchElasticsearch, type BenchElasticsearch } from './bench-elasticsearch';
import { createBenchTls, type BenchTls } from './bench-tls-files';

/**
 * `npm run bench` (short, fixed) and `npm run bench:full` (the issue's targets, within this
 * machine's limits): the all-in-one server as its own process on the embedded store, driven by the
 * fleet simulator from this process over loopback. Prints one table and writes the figures as JSON
 * to loadtest/results/. Never part of `npm test`.
 *
 * `npm run bench:es` (or `--store elasticsearch`, `BENCH_STORE=elasticsearch`): the same on
 * Elasticsearch, a test node of its own (deploy/elasticsearch/es-node.sh, stopped at the end) or the
 * one FLEET_ES_URL names (its `.fleet-*` indices are deleted before each server start). Next to
 * each server-CPU figure it gives the node's CPU (its JVM's, from /proc) per checkin or enrollment,
 * and the rollout gives how long the policy PUT itself took under the load.
 * `BENCH_OVERLOAD=0` skips the overload part. `--tls` runs it all over HTTPS (a certificate for
 * 127.0.0.1 from a CA made for the run); `npm run bench:tls` compares the two in one run.
 */
const full = process.argv.includes('--full');
const store = benchStore();
// The full fleet stays below this machine's 20,000 open files per process: the simulator's
// sockets and the restarted server's spawn share this process's limit.
const SIZE = {
  enroll: Number(process.env.BENCH_ENROLL ?? (full ? 10_000 : 2_000)),
  fleet: Number(process.env.BENCH_AGENTS ?? (full ? 15_000 : 2_000)),
};
const POLICY = 'fleet-default-policy';
const OVERLOAD_SECONDS = Number(process.env.BENCH_OVERLOAD_SECONDS ?? 30);
const overloadOnly = process.argv.includes('--overload-only');
// --floor: the bare node:http floor's steady phase with the same fleet, measured in the same run.
const withFloor = process.argv.includes('--floor');
const withOverload = process.env.BENCH_OVERLOAD !== '0' && !process.argv.includes('--no-overload');
let es: BenchElasticsearch | undefined;
let tls: BenchTls | undefined;

/** A server process on the bench's store (on Elasticsearch: a new fleet each time). */
async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const transport = tls ? { ...tls.serverEnv, ...env } : env;
  if (!es) return startServerProcess(transport, tls);
  await es.wipe();
  return startServerProcess({ ...es.serverEnv, ...transport }, tls);
}

/** The simulator's view of a server: its URL and tokens, and the CA over TLS. */
const simulatorFor = (server: ServerProcess) => ({
  url: server.url,
  enrollmentToken: server.enrollmentToken,
  adminToken: server.adminToken,
  sourceAddresses: SOURCES,
  ...(tls ? { ca: tls.ca } : {}),
});

/** `, ES CPU x per <what>` over a window, when the node's CPU can be read. */
const esCpu = (seconds: number, count: number, what: string): string =>
  es?.pid && count > 0 ? `; Elasticsearch CPU ${formatCpu(seconds / count)} per ${what}` : '';
const formatCpu = (s: number): string => (s >= 1e-3 ? `${(s * 1e3).toFixed(2)} ms` : `${Math.round(s * 1e6)} µs`);
const SOURCES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];

const report = new BenchReport();
const row = report.row.bind(report);
const ms = (v: number) => `${Math.round(v)} ms`;

async function main(): Promise<void> {
  if (store === 'elasticsearch') es = startBenchElasticsearch();
  if (process.argv.includes('--tls')) tls = createBenchTls();
  try {
    await run();
  } finally {
    es?.stop();
    tls?.remove();
  }
}

async function run(): Promise<void> {
  if (overloadOnly) {
    await overload(Math.min(SIZE.fleet, 10_000));
    return;
  }
  out(`fleet-server-ts bench (${full ? 'full' : 'short'}, store ${store}${es ? ` at ${es.url}` : ''}, ${tls ? 'HTTPS' : 'plain HTTP'}): ${machineLine}; server${es ? ', Elasticsearch' : ''} and load generator on this machine`);
  const server = await startServer({ ...LOAD_TEST_SETTINGS, FLEET_CHECKIN_MIN_POLL_MS: '1000' });
  const sim = new FleetSimulator(simulatorFor(server));
  let steady: { perSecond: number; microseconds: number } | undefined;
  let rssPerPoll: number | undefined;
  try {
    // 1. Enrollment storm.
    const enrollEs0 = es?.cpuSeconds() ?? 0;
    const enrolled = await sim.enroll(SIZE.enroll, 64);
    const enrollEs = (es?.cpuSeconds() ?? 0) - enrollEs0;
    row('enrollment storm', `${SIZE.enroll} enrollments, 64 at a time`, `${Math.round(enrolled.perSecond)}/s (p50 ${ms(enrolled.latencyMs.p50)}, p99 ${ms(enrolled.latencyMs.p99)})${esCpu(enrollEs, SIZE.enroll, 'enrollment')}`, '1,000/s');
    if (SIZE.fleet > SIZE.enroll) await sim.enroll(SIZE.fleet - SIZE.enroll, 64);

    // 2. First checkin (answered at once with the policy) and ack.
    const primed = await sim.prime(64);
    row('first checkin', 'latency of an immediate answer', `p50 ${ms(primed.p50)}, p99 ${ms(primed.p99)}`);

    // 3. The fleet long-polls; memory per held poll.
    await sleep(2_000);
    const before = processUsage(server.pid);
    sim.hold();
    const heldIn = await sim.waitHeld(() => server.metric('fleet_checkin_inflight_longpolls'), SIZE.fleet, 120_000);
    await sleep(3_000);
    const held = processUsage(server.pid);
    row('steady fleet', `${SIZE.fleet} long polls held`, `all open after ${heldIn.toFixed(1)} s`);
    rssPerPoll = (held.rssBytes - before.rssBytes) / SIZE.fleet / 1024;
    row('steady fleet', 'server RSS per held poll', `${((held.rssBytes - before.rssBytes) / SIZE.fleet / 1024).toFixed(1)} KB (total RSS ${Math.round(held.rssBytes / 2 ** 20)} MiB = ${(held.rssBytes / SIZE.fleet / 1024).toFixed(1)} KB per agent)`, '≤ 20 KB per agent');

    // 4. Policy rollout to every agent (all on the default policy); then short polls for the CPU figure.
    sim.pollTimeout = '2m1s'; // granted: max(min poll 1 s, 2m1s − 2 min) = 1 s, from each agent's next checkin
    const rolloutEs0 = es?.cpuSeconds() ?? 0;
    const rollout = await sim.rollout(POLICY, Number(process.env.BENCH_ROLLOUT_TIMEOUT_MS ?? 60_000));
    const rolloutEs = (es?.cpuSeconds() ?? 0) - rolloutEs0;
    row('policy rollout', `to ${rollout.agents} agents`, `p50 ${ms(rollout.deliveryMs.p50)}, p99 ${ms(rollout.deliveryMs.p99)}, p100 ${ms(rollout.deliveryMs.p100)}; missing ${rollout.missing}${esCpu(rolloutEs, rollout.agents, 'agent')}`, 'p100 ≤ 2 s at 10,000');
    row('policy rollout', 'the policy PUT itself, under that load', ms(rollout.apiMs), es ? '≤ 1 s' : '');

    // 5. Steady-state checkin CPU: every agent checks in once a second with nothing new.
    await sleep(5_000);
    const steadyEs0 = es?.cpuSeconds() ?? 0;
    steady = await cpuPerCheckin(server.pid, sim, 15_000);
    const steadyEs = (es?.cpuSeconds() ?? 0) - steadyEs0;
    row('steady checkins', `${SIZE.fleet} agents polling every second`, `${Math.round(steady.perSecond)} checkins/s, ${steady.microseconds.toFixed(0)} µs server CPU per checkin${esCpu(steadyEs, steady.perSecond * 15, 'checkin')}`, '≤ 100 µs');

    // 6. Reconnect storm: the server restarts with every agent connected.
    sim.pollTimeout = undefined;
    await sleep(2_000);
    const restartAt = Date.now();
    await server.restart();
    // Failures from here on are the new process's (before: the old one stopping, the port closed).
    const errorsBefore = sim.errors.toJSON();
    const back = await sim.waitHeld(() => server.metric('fleet_checkin_inflight_longpolls'), SIZE.fleet, 120_000);
    const errors = sim.errors.since(errorsBefore);
    row('reconnect storm', `${SIZE.fleet} agents after a restart`, `all long-polling again ${((Date.now() - restartAt) / 1000).toFixed(1)} s after the restart began (${back.toFixed(1)} s after it listened); failures after it listened: ${formatCounts(errors)}`, '≤ 60 s, only 429 (and refused connects while down)');
  } finally {
    await sim.stop();
    await server.close();
  }
  if (withFloor && steady) {
    const floor = await measureFloor(SIZE.fleet, tls);
    row('floor', `bare node:${tls ? 'https' : 'http'}, ${SIZE.fleet} agents polling every second`, `${Math.round(floor.perSecond)} checkins/s, ${floor.microseconds.toFixed(0)} µs server CPU per checkin; RSS per held poll ${floor.rssPerPollKB.toFixed(1)} KB; failures: ${floor.failures}`);
    row('floor', 'this server against the floor, same run', `${(steady.microseconds / floor.microseconds).toFixed(2)}× CPU per checkin; RSS per held poll ${(rssPerPoll ?? 0).toFixed(1)} KB against ${floor.rssPerPollKB.toFixed(1)} KB`, '≤ 2×');
  }
  if (withOverload) await overload(Math.min(SIZE.fleet, 10_000));
  report.finish(`bench-${store === 'elasticsearch' ? 'es-' : ''}${tls ? 'tls-' : ''}${full ? 'full' : 'short'}`, { store, tls: tls !== undefined });
}

/**
 * Twice the configured capacity: the checkin route admits `capacity` concurrent polls
 * (FLEET_CHECKIN_LIMIT_MAX) and 2 × capacity agents poll. The rest must get 429 + Retry-After, the
 * server's memory must stay flat, and when half the agents leave, everyone left is held again.
 */
async function overload(agents: number): Promise<void> {
  const capacity = Math.floor(agents / 2);
  const server = await startServer({ ...LOAD_TEST_SETTINGS, FLEET_CHECKIN_LIMIT_MAX: String(capacity) });
  const sim = new FleetSimulator(simulatorFor(server));
  try {
    await sim.enroll(agents, 64);
    await sim.prime(64);
    const errorsBefore = sim.errors.toJSON();
    sim.hold();
    await sim.waitHeld(() => server.metric('fleet_checkin_inflight_longpolls'), capacity, 120_000);
    const rss: number[] = [];
    for (let i = 0; i < OVERLOAD_SECONDS; i++) {
      rss.push(processUsage(server.pid).rssBytes);
      await sleep(1_000);
    }
    const third = Math.floor(rss.length / 3);
    const lastThird = rss.slice(rss.length - third);
    const held = await server.metric('fleet_checkin_inflight_longpolls');
    const failures = sim.errors.since(errorsBefore);
    const mib = (b: number) => Math.round(b / 2 ** 20);
    row(
      'overload',
      `${agents} agents for a capacity of ${capacity} polls, for ${OVERLOAD_SECONDS} s`,
      `${held} held; refusals: ${formatCounts(failures)}; RSS ${mib(rss[0] ?? 0)} MiB at the start, ${mib(Math.min(...lastThird))}-${mib(Math.max(...lastThird))} MiB over the last third`,
      '429 + Retry-After only, memory flat',
    );
    sim.release(agents - capacity);
    const start = Date.now();
    const before = sim.errors.total;
    await sim.waitHeld(() => server.metric('fleet_checkin_inflight_longpolls'), capacity, 120_000);
    await sleep(3_000);
    row('overload', `load back to capacity (${capacity} agents)`, `all ${capacity} held again ${((Date.now() - start) / 1000 - 3).toFixed(1)} s after the others left; ${sim.errors.total - before} refusals meanwhile`, 'recovers by itself');
  } finally {
    await sim.stop();
    await server.close();
  }
}

main().catch((err: unknown) => {
  const cause = err instanceof Error && err.cause instanceof Error ? ` (cause: ${err.cause.message})` : '';
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}${cause}\n`);
  process.exitCode = 1;
});
