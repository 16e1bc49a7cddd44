/**
 * Enrollment only: N enrollments (default 2,000), 64 in flight, after 50 warm-up ones, against the
 * built all-in-one server; prints rate, latency, and server CPU per enrollment (and, on
 * Elasticsearch, the node's CPU per enrollment from /proc/<FLEET_ES_PID>/stat).
 *
 *   N=2000 node --conditions=@fleet/source --import tsx loadtest/enroll-bench.ts            # SQLite
 *   BACKEND=es BENCH_ES_WIPE=yes N=1500 node ... loadtest/enroll-bench.ts                   # test node
 *
 * With `BACKEND=es` it needs the test node's environment (`. /tmp/es-NAME/es.env`) and, because the
 * server bootstraps its enrollment token only on empty indices, `BENCH_ES_WIPE=yes` to delete the
 * node's `.fleet-*` indices first: never point it at a cluster whose data matters. `ROOT=<checkout>`
 * runs another checkout's build (e.g. the branch point), for before/after pairs in one session.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const ROOT = resolve(process.env.ROOT ?? resolve(__dirname, '..'));

function cpuMs(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, in 10 ms ticks
}

async function wipeFleetIndices(): Promise<void> {
  if (process.env.BENCH_ES_WIPE !== 'yes') throw new Error('BACKEND=es deletes the .fleet-* indices: set BENCH_ES_WIPE=yes to confirm');
  const password = readFileSync(process.env.FLEET_ES_PASSWORD_FILE ?? '', 'utf8').trim();
  const auth = `Basic ${Buffer.from(`${process.env.FLEET_ES_USERNAME ?? 'elastic'}:${password}`).toString('base64')}`;
  const res = await fetch(`${process.env.FLEET_ES_URL}/.fleet-*?expand_wildcards=all`, { method: 'DELETE', headers: { authorization: auth } });
  if (!res.ok && res.status !== 404) throw new Error(`cannot wipe .fleet-*: ${res.status}`);
}

async function main(): Promise<void> {
  const { startServerProcess, LOAD_TEST_SETTINGS } = (await import(`${ROOT}/loadtest/fleet-server-process`)) as typeof import('./fleet-server-process');
  const { FleetSimulator } = (await import(`${ROOT}/loadtest/sim/fleet-simulator`)) as typeof import('./sim/fleet-simulator');
  const n = Number(process.env.N ?? 2000);
  const es = process.env.BACKEND === 'es';
  const esPid = es ? Number(process.env.FLEET_ES_PID ?? 0) : 0;
  const env: Record<string, string> = { ...LOAD_TEST_SETTINGS };
  if (es) {
    await wipeFleetIndices();
    Object.assign(env, {
      FLEET_STORE_BACKEND: 'elasticsearch',
      FLEET_ES_HOSTS: process.env.FLEET_ES_URL ?? '',
      FLEET_ES_SERVICE_TOKEN_FILE: process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '',
    });
  }
  const server = await startServerProcess(env);
  try {
    const sim = new FleetSimulator({ url: server.url, enrollmentToken: server.enrollmentToken, adminToken: server.adminToken });
    await sim.enroll(50, 16);
    const es0 = esPid ? cpuMs(esPid) : 0;
    const s0 = cpuMs(server.pid);
    const r = await sim.enroll(n, 64);
    const es1 = esPid ? cpuMs(esPid) : 0;
    const s1 = cpuMs(server.pid);
    process.stdout.write(
      `${JSON.stringify({
        root: ROOT,
        backend: es ? 'elasticsearch' : 'sqlite',
        enrollments: n,
        perSecond: Math.round(r.perSecond),
        p50Ms: Math.round(r.latencyMs.p50),
        p99Ms: Math.round(r.latencyMs.p99),
        serverCpuMsPerEnrollment: Number(((s1 - s0) / n).toFixed(3)),
        ...(esPid ? { esCpuMsPerEnrollment: Number(((es1 - es0) / n).toFixed(2)) } : {}),
        errors: r.errors,
      })}\n`,
    );
  } finally {
    await server.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
