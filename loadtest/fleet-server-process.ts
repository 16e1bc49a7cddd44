import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join, resolve } from 'node:path';
import { reservePort } from '../deploy/topology/local-topology';
import { scrapeMetric } from './sim/measurements';

const root = resolve(__dirname, '..');

/** The all-in-one server as a separate process (built `dist/`, with `npm start`'s Node options), for load tests. */
export interface ServerProcess {
  url: string;
  metricsUrl: string;
  pid: number;
  dataDir: string;
  enrollmentToken: string;
  adminToken: string;
  /** A series' value from /metrics (the first line of that name), or 0. */
  metric(name: string): Promise<number>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** Stops and starts again on the same ports and data (a gateway restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** The status of GET `url` (verified against `ca` over https), or 0 when nothing answers. */
function probe(url: string, ca?: string): Promise<number> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, { ...(ca ? { ca } : {}), timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', () => resolve(0));
    req.once('timeout', () => req.destroy());
  });
}

async function waitReady(url: string, supervisor: ChildProcess, timeoutMs: number, ca?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (supervisor.exitCode !== null) throw new Error(`server supervisor exited with ${supervisor.exitCode}`);
    if ((await probe(`${url}/readyz`, ca)) === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

/**
 * Runs node again each time it exits, until the stop file exists. The restart happens in this
 * shell, not in the load generator: with tens of thousands of sockets reconnecting, the load
 * generator may have no file descriptor left to spawn a process with.
 */
const SUPERVISOR = 'while [ ! -e "$STOP_FILE" ]; do "$@" & echo $! > "$PID_FILE"; wait $!; done';

/**
 * What every load test runs the server with: capacity, not the default rate limits (1,000
 * enrollments and 1,000 checkins a second, the reference's), is what is measured, and no jitter,
 * so poll lengths are the configured ones.
 */
export const LOAD_TEST_SETTINGS = {
  FLEET_ENROLL_LIMIT_INTERVAL_MS: '0',
  FLEET_ENROLL_LIMIT_MAX: '0',
  FLEET_CHECKIN_LIMIT_INTERVAL_MS: '0',
  FLEET_CHECKIN_JITTER_MS: '0',
} as const;

/** Extra Node options for the server, e.g. `BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` to profile it. */
const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

/** Extra server settings, e.g. `BENCH_SERVER_ENV="FLEET_CHECKIN_COMPRESSION_LEVEL=0,FLEET_LOG_LEVEL=info"`. */
const extraEnv = Object.fromEntries(
  (process.env.BENCH_SERVER_ENV ?? '')
    .split(',')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')).trim(), kv.slice(kv.indexOf('=') + 1).trim()]),
);

/**
 * Starts the server; plain HTTP unless `env` sets FLEET_TLS_MODE (then `tls.ca` verifies it, and
 * the certificate must name 127.0.0.1).
 */
export async function startServerProcess(env: Record<string, string> = {}, tls?: { ca: string }): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fleet-bench-'));
  const port = await reservePort();
  const metricsPort = await reservePort();
  const scheme = env['FLEET_TLS_MODE'] && env['FLEET_TLS_MODE'] !== 'off' ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const pidFile = join(dataDir, 'server.pid');
  const stopFile = join(dataDir, 'stop');
  const args = ['--max-semi-space-size=64', ...nodeArgs, '--require', join(root, 'services/all-in-one/dist/instrumentation.js'), join(root, 'services/all-in-one/dist/main.js')];
  const supervisor = spawn('sh', ['-c', SUPERVISOR, 'fleet-server', process.execPath, ...args], {
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLEET_'))),
      STOP_FILE: stopFile,
      PID_FILE: pidFile,
      FLEET_SQLITE_PATH: join(dataDir, 'fleet.db'),
      FLEET_HTTP_HOST: '127.0.0.1',
      FLEET_HTTP_PORT: String(port),
      FLEET_METRICS_HOST: '127.0.0.1',
      FLEET_METRICS_PORT: String(metricsPort),
      FLEET_PUBLIC_URLS: url,
      FLEET_LOG_LEVEL: 'warn',
      FLEET_TLS_MODE: 'off',
      ...env,
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitReady(url, supervisor, 60_000, tls?.ca);
  const serverPid = (): number => Number(readFileSync(pidFile, 'utf8').trim());
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const terminate = async (pid: number): Promise<void> => {
    if (alive(pid)) process.kill(pid, 'SIGTERM');
    while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
  };
  const stop = async (): Promise<void> => {
    writeFileSync(stopFile, '');
    if (supervisor.exitCode === null) {
      const exited = new Promise<void>((r) => supervisor.once('exit', () => r()));
      await terminate(serverPid());
      await exited;
    }
  };
  return {
    url,
    metricsUrl,
    get pid() {
      return serverPid();
    },
    dataDir,
    enrollmentToken: readFileSync(join(dataDir, 'enrollment-token'), 'utf8').trim(),
    adminToken: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    metric: (name) => scrapeMetric(metricsUrl, name),
    stop,
    async restart() {
      const old = serverPid();
      await terminate(old);
      while (serverPid() === old) await new Promise((r) => setTimeout(r, 50));
      await waitReady(url, supervisor, 60_000, tls?.ca);
    },
    async close() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
