/**
 * Runs each Jazzer.js fuzz target for a bounded time, one after another, and fails if any finds a
 * crash, a hang, a 5xx or a malformed error answer.
 *
 *   npm run fuzz        FUZZ_SECONDS per target (default 300)
 *   npm run fuzz:ci     20 s per target (the short form CI runs)
 *   FUZZ_TARGETS=kuery,uploads npm run fuzz
 *
 * Each target starts from its committed seeds (fuzz/corpus/<target>/, read only) plus what earlier
 * runs on this machine found (fuzz/.work/<target>/corpus/, not committed). A finding is written to
 * fuzz/.work/<target>/crash-<sha1>; replay it with FUZZ_REPLAY=<file> npm run fuzz -- <target>.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
/** Targets that never await: Jazzer.js runs them in its faster synchronous mode. */
const SYNC = new Set(['kuery', 'go-duration']);

interface Outcome {
  target: string;
  code: number;
  seconds: number;
  execs: number;
  corpus: number;
}

function allTargets(): string[] {
  return readdirSync(join(ROOT, 'fuzz/targets'))
    .filter((f) => f.endsWith('.fuzz.ts'))
    .map((f) => f.slice(0, -'.fuzz.ts'.length))
    .sort();
}

function runTarget(target: string, seconds: number, replay?: string): Promise<Outcome> {
  const work = join(ROOT, 'fuzz/.work', target);
  const found = join(work, 'corpus');
  mkdirSync(found, { recursive: true });
  const seeds = join(ROOT, 'fuzz/corpus', target);
  const args = [
    '--conditions=@fleet/source',
    '--import',
    'tsx',
    '--max-old-space-size=3072',
    join(ROOT, 'node_modules/@jazzer.js/core/dist/cli.js'),
    join(ROOT, 'fuzz/jazzer-entry.cjs'),
    ...(replay ? [] : [found, ...(existsSync(seeds) ? [seeds] : [])]),
    ...(SYNC.has(target) ? ['--sync'] : []),
    // The bug detectors (command injection, path traversal, SSRF, prototype pollution, RCE) hook
    // hundreds of functions and quadruple start-up; the harness talks HTTP to 127.0.0.1 on purpose
    // (SSRF), and what these targets look for is crashes, hangs and 5xx.
    '--disable_bug_detectors=.*',
    '--timeout=10000',
    '--',
    ...(replay ? [replay] : [`-max_total_time=${seconds}`]),
    `-artifact_prefix=${work}/`,
    '-print_final_stats=1',
    '-max_len=65536',
    '-rss_limit_mb=4096',
  ];
  const started = Date.now();
  const dataRoot = mkdtempSync(join(tmpdir(), 'fleet-fuzz-run-'));
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, FUZZ_TARGET: join(ROOT, 'fuzz/targets', `${target}.fuzz.ts`), FUZZ_DATA_ROOT: dataRoot },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let execs = 0;
    let tail = '';
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-64 * 1024);
      const m = /stat::number_of_executed_units:\s*(\d+)/.exec(tail);
      if (m) execs = Number(m[1]);
    });
    child.on('error', fail);
    child.on('close', (code, signal) => {
      rmSync(dataRoot, { recursive: true, force: true });
      const corpus = readdirSync(found).length + (existsSync(seeds) ? readdirSync(seeds).length : 0);
      done({ target, code: code ?? (signal ? 128 : 1), seconds: (Date.now() - started) / 1000, execs, corpus });
    });
  });
}

/** Jazzer.js's native addon, built here when the prebuilt one cannot load (fuzz/native/build-addon.sh). */
function ensureAddon(): void {
  const built = spawnSync('bash', [join(ROOT, 'fuzz/native/build-addon.sh')], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error('the Jazzer.js native addon could not be built (see above)');
}

async function main(): Promise<void> {
  const seconds = Number(process.env.FUZZ_SECONDS ?? 300);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`FUZZ_SECONDS must be a positive number, not ${process.env.FUZZ_SECONDS}`);
  const known = allTargets();
  const asked = [...process.argv.slice(2), ...(process.env.FUZZ_TARGETS ?? '').split(',')].map((t) => t.trim()).filter(Boolean);
  for (const t of asked) if (!known.includes(t)) throw new Error(`no fuzz target "${t}" (have: ${known.join(', ')})`);
  const targets = asked.length ? asked : known;
  const replay = process.env.FUZZ_REPLAY;
  ensureAddon();
  const outcomes: Outcome[] = [];
  for (const target of targets) {
    process.stdout.write(`\n=== fuzz ${target}: ${replay ? `replay ${replay}` : `${seconds} s`} ===\n`);
    outcomes.push(await runTarget(target, seconds, replay));
  }
  process.stdout.write('\ntarget                     result   seconds    execs   execs/s  corpus\n');
  for (const o of outcomes) {
    const rate = o.seconds > 0 ? Math.round(o.execs / o.seconds) : 0;
    process.stdout.write(
      `${o.target.padEnd(26)} ${(o.code === 0 ? 'ok' : `FAIL ${o.code}`).padEnd(8)} ${o.seconds.toFixed(0).padStart(7)} ${String(o.execs).padStart(8)} ${String(rate).padStart(9)} ${String(o.corpus).padStart(7)}\n`,
    );
  }
  const failed = outcomes.filter((o) => o.code !== 0);
  process.stdout.write(`${outcomes.length - failed.length} passed, ${failed.length} failed\n`);
  if (failed.length) {
    process.stdout.write(`findings are in fuzz/.work/<target>/ (crash-*, timeout-*, oom-*)\n`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
