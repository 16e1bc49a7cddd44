import { BenchReport, machineLine, out, sleep } from './bench-report';
import { createBenchTls, type BenchTls } from './bench-tls-files';
import { measureFloor } from './checkin-floor';
import { LOAD_TEST_SETTINGS, startServerProcess } from './fleet-server-process';
import { FleetSimulator } from './sim/fleet-simulator';
import { cpuPerCheckin, processUsage } from './sim/measurements';

/**
 * `npm run bench:tls`: what TLS costs, plain HTTP and HTTPS measured in one run on the same fleet
 * and settings (embedded store, server in its own process, the simulator in this one, loopback):
 *
 * - RSS per held long poll: each TLS connection keeps OpenSSL's state and buffers;
 * - server CPU per checkin on kept-alive connections (every agent polls once a second): the
 *   encryption alone;
 * - server CPU per checkin when every request opens its own connection: the full handshake too
 *   (ECDHE P-256 with the ECDSA P-256 certificate the server generates), for a smaller fleet,
 *   since each agent then uses a new port every second.
 *
 * BENCH_AGENTS (default 2,000), BENCH_CHURN_AGENTS (default 300), BENCH_WINDOW_MS (default 15,000).
 */
const AGENTS = Number(process.env.BENCH_AGENTS ?? 2_000);
const CHURN_AGENTS = Number(process.env.BENCH_CHURN_AGENTS ?? 300);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 15_000);
const SOURCES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];

interface TransportFigures {
  rssPerPollKB: number;
  keptAlive: { perSecond: number; microseconds: number };
  newConnections: { perSecond: number; microseconds: number };
}

const report = new BenchReport();

async function measure(transport: 'http' | 'https', pki: BenchTls): Promise<TransportFigures> {
  const tlsEnv = transport === 'https' ? pki.serverEnv : {};
  const server = await startServerProcess({ ...LOAD_TEST_SETTINGS, FLEET_CHECKIN_MIN_POLL_MS: '1000', ...tlsEnv }, transport === 'https' ? pki : undefined);
  const sim = new FleetSimulator({
    url: server.url,
    enrollmentToken: server.enrollmentToken,
    adminToken: server.adminToken,
    sourceAddresses: SOURCES,
    ...(transport === 'https' ? { ca: pki.ca } : {}),
  });
  try {
    await sim.enroll(AGENTS, 64);
    await sim.prime(64);
    await sleep(2_000);
    const before = processUsage(server.pid);
    sim.hold();
    await sim.waitHeld(() => server.metric('fleet_checkin_inflight_longpolls'), AGENTS, 120_000);
    await sleep(3_000);
    const held = processUsage(server.pid);
    const rssPerPollKB = (held.rssBytes - before.rssBytes) / AGENTS / 1024;
    report.row(transport, `server RSS per held poll (${AGENTS} polls)`, `${rssPerPollKB.toFixed(1)} KB`);

    sim.pollTimeout = '2m1s'; // granted: the 1 s minimum, from each agent's next checkin
    // A new revision answers every held poll, so each agent's next checkin asks for the short poll.
    const rollout = await sim.rollout('fleet-default-policy', 60_000);
    if (rollout.missing > 0) out(`  ${transport}: ${rollout.missing} agents did not get the new revision`);
    await sleep(5_000);
    const keptAlive = await cpuPerCheckin(server.pid, sim, WINDOW_MS);
    report.row(transport, `kept-alive connections, ${AGENTS} agents polling every second`, `${Math.round(keptAlive.perSecond)} checkins/s, ${keptAlive.microseconds.toFixed(0)} µs server CPU per checkin`);

    sim.release(AGENTS - CHURN_AGENTS);
    sim.newConnectionPerRequest();
    await sleep(5_000);
    const newConnections = await cpuPerCheckin(server.pid, sim, WINDOW_MS);
    report.row(
      transport,
      `a new connection per request, ${CHURN_AGENTS} agents polling every second`,
      `${Math.round(newConnections.perSecond)} checkins/s, ${newConnections.microseconds.toFixed(0)} µs server CPU per checkin`,
    );
    const errors = sim.errors.toJSON();
    if (Object.keys(errors).length > 0) out(`  ${transport}: failures ${JSON.stringify(errors)}`);
    return { rssPerPollKB, keptAlive, newConnections };
  } finally {
    await sim.stop();
    await server.close();
  }
}

async function main(): Promise<void> {
  out(`fleet-server-ts TLS bench: ${machineLine}; server and load generator on this machine, embedded store`);
  const pki = createBenchTls();
  try {
    const plain = await measure('http', pki);
    const tls = await measure('https', pki);
    // The same steady phase against bare node:http and node:https: what Node and OpenSSL alone pay.
    const floorPlain = await measureFloor(AGENTS);
    const floorTls = await measureFloor(AGENTS, pki);
    for (const [name, floor] of [['floor http', floorPlain], ['floor https', floorTls]] as const) {
      report.row(name, `bare node server, ${AGENTS} agents`, `RSS per held poll ${floor.rssPerPollKB.toFixed(1)} KB; ${Math.round(floor.perSecond)} checkins/s, ${floor.microseconds.toFixed(0)} µs CPU per checkin; failures: ${floor.failures}`);
    }
    const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
    const cost = (scenario: string, figure: string, withTls: number, without: number, unit: string, digits: number): void =>
      report.row(scenario, figure, `+${(withTls - without).toFixed(digits)} ${unit} (${ratio(withTls, without)})`);
    cost('TLS cost', 'RSS per held poll', tls.rssPerPollKB, plain.rssPerPollKB, 'KB', 1);
    cost('TLS cost', 'CPU per checkin, kept-alive', tls.keptAlive.microseconds, plain.keptAlive.microseconds, 'µs', 0);
    cost('TLS cost', 'CPU per checkin, new connection each', tls.newConnections.microseconds, plain.newConnections.microseconds, 'µs', 0);
    cost('TLS cost, floor', 'RSS per held poll', floorTls.rssPerPollKB, floorPlain.rssPerPollKB, 'KB', 1);
    cost('TLS cost, floor', 'CPU per checkin, kept-alive', floorTls.microseconds, floorPlain.microseconds, 'µs', 0);
    report.finish('bench-tls');
  } finally {
    pki.remove();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
