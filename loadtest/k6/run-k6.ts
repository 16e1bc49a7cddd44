import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { LOAD_TEST_SETTINGS, startServerProcess, type ServerProcess } from '../fleet-server-process';

/**
 * Runs one k6 script (loadtest/k6/<name>.js) with real k6:
 *   npm run loadtest:k6 -- <script> [--url URL --token-dir DIR [--ca FILE]] [k6 options, e.g. -e AGENTS=2000]
 * Without --url it starts the all-in-one server (built dist/, embedded store) and targets it; with
 * --url it targets a running server or the haproxy topology (`npm run topology`, whose token files
 * are in the directory it prints), reading enrollment-token and admin-token from --token-dir.
 * --ca is the CA file of an https URL (the topology prints it: <dir>/tls/ca.crt); k6 (Go) then
 * trusts it instead of the system's CAs (SSL_CERT_FILE).
 * k6 is $K6, else ~/.cache/fleet-tools/bin/k6, built with `go install go.k6.io/k6@v1.8.1` when missing.
 */
const K6_VERSION = 'v1.8.1';
const SCRIPTS = ['enrollment-storm', 'steady-fleet', 'policy-rollout', 'action-dispatch'];
const out = (s: string) => process.stdout.write(`${s}\n`);

function k6Binary(): string {
  if (process.env.K6) return process.env.K6;
  const bin = join(homedir(), '.cache', 'fleet-tools', 'bin');
  const k6 = join(bin, 'k6');
  if (existsSync(k6)) return k6;
  out(`building k6 ${K6_VERSION} with go install (a few minutes the first time) into ${bin}`);
  mkdirSync(bin, { recursive: true });
  const built = spawnSync('go', ['install', `go.k6.io/k6@${K6_VERSION}`], { env: { ...process.env, GOBIN: bin }, stdio: 'inherit' });
  if (built.status !== 0 || !existsSync(k6)) throw new Error('could not build k6 (needs Go 1.24+ and the Go module proxy)');
  return k6;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const script = args.shift();
  if (!script || !SCRIPTS.includes(script)) throw new Error(`usage: run-k6 <${SCRIPTS.join('|')}> [--url URL --token-dir DIR [--ca FILE]] [k6 options]`);
  const take = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    if (i < 0) return undefined;
    const [, value] = args.splice(i, 2);
    return value;
  };
  const url = take('--url');
  const tokenDir = take('--token-dir');
  const caFile = take('--ca');
  const k6 = k6Binary();
  let server: ServerProcess | undefined;
  let target: { url: string; enrollmentToken: string; adminToken: string };
  if (url) {
    if (!tokenDir) throw new Error('--url needs --token-dir (where enrollment-token and admin-token are)');
    const read = (f: string) => readFileSync(join(tokenDir, f), 'utf8').trim();
    target = { url, enrollmentToken: read('enrollment-token'), adminToken: read('admin-token') };
  } else {
    server = await startServerProcess(LOAD_TEST_SETTINGS);
    target = server;
    out(`all-in-one server (pid ${server.pid}) at ${server.url}`);
  }
  const results = join(__dirname, '..', 'results');
  mkdirSync(results, { recursive: true });
  const summary = join(results, `k6-${script}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const code = await new Promise<number>((done) => {
    const child = spawn(
      k6,
      ['run', '--summary-export', summary, '-e', `FLEET_URL=${target.url}`, '-e', `ENROLLMENT_TOKEN=${target.enrollmentToken}`, '-e', `ADMIN_TOKEN=${target.adminToken}`, ...args, resolve(__dirname, `${script}.js`)],
      { stdio: 'inherit', env: { ...process.env, ...(caFile ? { SSL_CERT_FILE: resolve(caFile) } : {}) } },
    );
    child.once('exit', (c) => done(c ?? 1));
  });
  await server?.close();
  out(`k6 summary: ${summary}`);
  process.exitCode = code;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
