import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { reservePort } from '../deploy/topology/local-topology';
import { FleetSimulator } from './sim/fleet-simulator';
import { cpuPerCheckin, processUsage } from './sim/measurements';
import { formatCounts, machineLine, out, sleep } from './bench-report';

/**
 * `npm run bench:floor`: the CPU-per-checkin floor on this machine. The same simulator and the
 * same steady phase as `npm run bench` (every agent checks in once a second, nothing new), against
 * loadtest/floor/bare-http-server.ts, a bare node:http server with the same Node options as the
 * Fleet Server process. What that costs per request is what any Node HTTP server pays before doing
 * any Fleet work. FLOOR_AGENTS (default 10,000).
 */
const AGENTS = Number(process.env.FLOOR_AGENTS ?? 10_000);

export interface FloorFigures {
  rssPerPollKB: number;
  perSecond: number;
  microseconds: number;
  failures: string;
}

/** POST `{}` to the floor server; whether it answered. */
function post(url: string, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { method: 'POST', ...(ca ? { ca } : {}), timeout: 5_000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => req.destroy());
    req.end('{}');
  });
}

/**
 * The floor's held-poll RSS and steady phase with `agents` agents (bench --floor measures it in the
 * same run); over node:https with `tls` (a certificate for 127.0.0.1 and the CA that signed it).
 */
export async function measureFloor(agents: number, tls?: { certFile: string; keyFile: string; ca: string }): Promise<FloorFigures> {
  const port = await reservePort();
  const server = spawn(process.execPath, ['--max-semi-space-size=64', '--import', 'tsx', join(__dirname, 'floor', 'bare-http-server.ts')], {
    env: { ...process.env, FLOOR_PORT: String(port), ...(tls ? { FLOOR_TLS_CERT: tls.certFile, FLOOR_TLS_KEY: tls.keyFile } : {}) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await post(`${url}/`, tls?.ca)); i++) await sleep(100);
  const sim = new FleetSimulator({
    url,
    enrollmentToken: 'floor',
    adminToken: 'floor',
    sourceAddresses: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'],
    ...(tls ? { ca: tls.ca } : {}),
  });
  try {
    await sim.enroll(agents, 64);
    await sleep(2_000);
    const before = processUsage(server.pid ?? 0);
    sim.hold();
    await sim.waitHeld(() => Promise.resolve(sim.openPolls), agents, 120_000);
    await sleep(3_000);
    const held = processUsage(server.pid ?? 0);
    // From here every agent asks for a poll_timeout: each checkin is held a second.
    sim.pollTimeout = '1s';
    await post(`${url}/floor/release`, tls?.ca);
    await sleep(5_000);
    const steady = await cpuPerCheckin(server.pid ?? 0, sim, 15_000);
    return {
      rssPerPollKB: (held.rssBytes - before.rssBytes) / agents / 1024,
      perSecond: steady.perSecond,
      microseconds: steady.microseconds,
      failures: formatCounts(sim.errors.toJSON()),
    };
  } finally {
    await sim.stop();
    server.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  out(`checkin floor: ${AGENTS} agents polling every second; ${machineLine}`);
  const floor = await measureFloor(AGENTS);
  out(`  bare node:http: RSS per held poll ${floor.rssPerPollKB.toFixed(1)} KB`);
  out(`  bare node:http: ${Math.round(floor.perSecond)} checkins/s, ${floor.microseconds.toFixed(0)} µs server CPU per checkin; failures: ${floor.failures}`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`floor bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
