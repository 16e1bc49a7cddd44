/**
 * Fuzzes the management API against its own OpenAPI document with schemathesis (from PyPI).
 *
 *   npm run fuzz:api       the full run (SCHEMATHESIS_MAX_EXAMPLES per operation, default 100)
 *   npm run fuzz:api:ci    the short form CI runs (10 examples per operation, about 30 s)
 *   npm run fuzz:api -- --include-operation-id getAgent    extra arguments go to schemathesis
 *
 * Schemathesis is installed once into a venv under ~/.cache/fleet-schemathesis (python3 -m venv;
 * Debian needs python3-venv). A real all-in-one server starts on loopback (SQLite in a temp dir,
 * its generated admin token), the document is read from /api/fleet/openapi.json with that token,
 * and schemathesis calls every operation with the token, checking: no 5xx, every status and
 * content type is one the document lists, and every body conforms to the document's schema. The
 * rollout SSE streams are left out (a stream stays open until its rollout completes).
 * Exit status: schemathesis's (0 when nothing failed).
 */
import { allInOneSchema, startFleetServer } from '@fleet/all-in-one';
import { createLogger, loadConfig } from '@fleet/service-kit';
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const SCHEMATHESIS_VERSION = '4.32.5';
const CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fleet-schemathesis');
const VENV = join(CACHE, `venv-${SCHEMATHESIS_VERSION}`);
const BIN = join(VENV, 'bin', 'schemathesis');
const CHECKS = ['not_a_server_error', 'response_schema_conformance', 'status_code_conformance', 'content_type_conformance'];
/** Operations that hang a fuzzer: server-sent event streams. */
const EXCLUDED_PATHS = '/stream$';

const say = (line: string): void => {
  process.stdout.write(`[fuzz:api] ${line}\n`);
};

/** The venv with the pinned schemathesis, made once. */
function ensureSchemathesis(): void {
  if (existsSync(BIN)) return;
  mkdirSync(CACHE, { recursive: true });
  say(`installing schemathesis ${SCHEMATHESIS_VERSION} into ${VENV}`);
  const steps: [string, string[]][] = [
    ['python3', ['-m', 'venv', VENV]],
    [join(VENV, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`]],
  ];
  for (const [cmd, args] of steps) {
    const res = spawnSync(cmd, args, { stdio: 'inherit' });
    if (res.status !== 0) {
      rmSync(VENV, { recursive: true, force: true });
      throw new Error(`${cmd} ${args.join(' ')} failed (${res.status ?? res.signal}); on Debian, python3-venv provides venv`);
    }
  }
}

async function main(argv: string[]): Promise<number> {
  const ci = argv.includes('--ci');
  // Anything else is passed to schemathesis (`npm run fuzz:api -- --include-operation-id getAgent`).
  const extra = argv.filter((a) => a !== '--ci');
  const maxExamples = ci ? 10 : Number(process.env.SCHEMATHESIS_MAX_EXAMPLES ?? 100);
  ensureSchemathesis();

  const dataDir = mkdtempSync(join(tmpdir(), 'fleet-fuzz-api-'));
  const logFile = join(dataDir, 'server.log');
  const config = loadConfig(allInOneSchema, {
    env: {},
    overrides: {
      http: { port: 0, host: '127.0.0.1', tls: { mode: 'off' } },
      metrics: { enabled: false },
      log: { level: 'info' },
      store: { backend: 'sqlite', sqlite: { path: join(dataDir, 'fleet.db') } },
    },
  });
  const logger = createLogger({ name: 'fuzz-api', level: config.log.level }, createWriteStream(logFile));
  const server = await startFleetServer(config, logger);
  try {
    const auth = `Bearer ${server.adminToken}`;
    const res = await fetch(`${server.url}/api/fleet/openapi.json`, { headers: { Authorization: auth } });
    if (!res.ok) throw new Error(`GET /api/fleet/openapi.json answered ${res.status}`);
    const schema = join(dataDir, 'openapi.json');
    writeFileSync(schema, await res.text());
    const reportDir = join(dataDir, 'report');
    const args = [
      'run',
      schema,
      '--url',
      server.url,
      '--header',
      `Authorization: ${auth}`,
      '--checks',
      CHECKS.join(','),
      '--exclude-path-regex',
      EXCLUDED_PATHS,
      '--max-examples',
      String(maxExamples),
      // One worker: with two, hypothesis once failed inside its own (shared) caches, not in the API.
      '--workers',
      '1',
      '--seed',
      process.env.SCHEMATHESIS_SEED ?? '16',
      // Examples that found failures are kept with the venv and tried first next time.
      '--generation-database',
      join(CACHE, 'examples'),
      '--report',
      'junit',
      '--report-dir',
      reportDir,
      '--no-color',
      ...extra,
    ];
    say(`schemathesis ${args.filter((a) => !a.startsWith('Authorization')).join(' ')}`);
    const code = await new Promise<number>((resolve, reject) => {
      // Run in the temp dir: schemathesis and hypothesis write their own state (`.schemathesis/`, `.hypothesis/`) in the working directory.
      const child = spawn(BIN, args, { stdio: 'inherit', cwd: dataDir, env: { ...process.env, SCHEMATHESIS_TELEMETRY: 'false' } });
      child.once('error', reject);
      child.once('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0)));
    });
    say(`server log: ${logFile}; report: ${reportDir}`);
    return code;
  } finally {
    await server.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
