import { createCertificateAuthority, issueCertificate } from '@fleet/service-kit';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchReport, machineLine, out, sleep } from './bench-report';
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

async function measure(transport: 'http' | 'https', pki: { dir: string; ca: string }): Promise<TransportFigures> {
  const tlsEnv: Record<string, string> = transport === 'https' ? { FLEET_TLS_MODE: 'files', FLEET_TLS_CERT_FILE: join(pki.dir, 'server.crt'), FLEET_TLS_KEY_FILE: join(pki.dir, 'server.key') } : {};
  const server = await startServerProcess({ ...LOAD_TEST_SETTINGS, FLEET_CHECKIN_MIN_POLL_MS: '1000', ...tlsEnv }, transport === 'https' ? { ca: pki.ca } : undefined);
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
  const dir = mkdtempSync(join(tmpdir(), 'fleet-tls-bench-'));
  try {
    const ca = createCertificateAuthority({ commonName: 'bench CA' });
    const cert = issueCertificate(ca, { commonName: '127.0.0.1', hosts: ['127.0.0.1', 'localhost'], usage: 'server' });
    writeFileSync(join(dir, 'server.crt'), cert.certPem);
    writeFileSync(join(dir, 'server.key'), cert.keyPem, { mode: 0o600 });
    const pki = { dir, ca: ca.certPem };
    const plain = await measure('http', pki);
    const tls = await measure('https', pki);
    const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
    report.row('TLS cost', 'RSS per held poll', `+${(tls.rssPerPollKB - plain.rssPerPollKB).toFixed(1)} KB (${ratio(tls.rssPerPollKB, plain.rssPerPollKB)})`);
    report.row('TLS cost', 'CPU per checkin, kept-alive', `+${(tls.keptAlive.microseconds - plain.keptAlive.microseconds).toFixed(0)} µs (${ratio(tls.keptAlive.microseconds, plain.keptAlive.microseconds)})`);
    report.row('TLS cost', 'CPU per checkin, new connection each', `+${(tls.newConnections.microseconds - plain.newConnections.microseconds).toFixed(0)} µs (${ratio(tls.newConnections.microseconds, plain.newConnections.microseconds)})`);
    report.finish('bench-tls');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
