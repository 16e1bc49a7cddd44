import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { reservePort } from '../deploy/topology/local-topology';

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

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    if ((await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

/** Extra Node options for the server, e.g. `BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` to profile it. */
const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

export async function startServerProcess(env: Record<string, string> = {}): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fleet-bench-'));
  const port = await reservePort();
  const metricsPort = await reservePort();
  const url = `http://127.0.0.1:${port}`;
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const launch = () =>
    spawn(process.execPath, ['--max-semi-space-size=64', ...nodeArgs, '--require', join(root, 'services/all-in-one/dist/instrumentation.js'), join(root, 'services/all-in-one/dist/main.js')], {
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLEET_'))),
        FLEET_SQLITE_PATH: join(dataDir, 'fleet.db'),
        FLEET_HTTP_HOST: '127.0.0.1',
        FLEET_HTTP_PORT: String(port),
        FLEET_METRICS_HOST: '127.0.0.1',
        FLEET_METRICS_PORT: String(metricsPort),
        FLEET_PUBLIC_URLS: url,
        FLEET_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  let child = launch();
  await waitReady(url, child, 60_000);
  const stop = () =>
    new Promise<void>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r();
      child.once('exit', () => r());
      child.kill('SIGTERM');
    });
  return {
    url,
    metricsUrl,
    get pid() {
      return child.pid ?? 0;
    },
    dataDir,
    enrollmentToken: readFileSync(join(dataDir, 'enrollment-token'), 'utf8').trim(),
    adminToken: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    async metric(name) {
      // A scrape can fail while the server is saturated (a reset kept-alive socket): try again
      // on a new connection, a few times.
      let text: string;
      for (let attempt = 0; ; attempt++) {
        try {
          text = await (await fetch(metricsUrl, { headers: { Connection: 'close' } })).text();
          break;
        } catch (err) {
          if (attempt >= 4) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
    },
    stop,
    async restart() {
      await stop();
      child = launch();
      await waitReady(url, child, 60_000);
    },
    async close() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
