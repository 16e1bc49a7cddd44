import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readEsEnvFile } from '../deploy/elasticsearch/es-env-file';
import { processUsage } from './sim/measurements';

const script = resolve(__dirname, '../deploy/elasticsearch/es-node.sh');

/** The store a bench runs the server on: `--store elasticsearch` or `BENCH_STORE=elasticsearch`. */
export function benchStore(argv: string[] = process.argv): 'sqlite' | 'elasticsearch' {
  const at = argv.indexOf('--store');
  const named = at >= 0 ? argv[at + 1] : process.env.BENCH_STORE;
  if (named === undefined || named === 'sqlite') return 'sqlite';
  if (named === 'elasticsearch' || named === 'es') return 'elasticsearch';
  throw new Error(`unknown bench store ${named} (sqlite or elasticsearch)`);
}

/** An Elasticsearch node for a bench, and what the server needs to use it. */
export interface BenchElasticsearch {
  url: string;
  /** The node's JVM, for its CPU time (undefined when a node given by FLEET_ES_URL has no FLEET_ES_PID). */
  pid: number | undefined;
  /** FLEET_* settings that point the server at the node (the server process gets no other FLEET_*). */
  serverEnv: Record<string, string>;
  /** Deletes the `.fleet-*` indices, so that the next server bootstraps a new fleet. */
  wipe(): Promise<void>;
  /** The node's CPU seconds so far (0 without a pid). */
  cpuSeconds(): number;
  /** Stops the node when the bench started it. Idempotent. */
  stop(): void;
}

/**
 * A dedicated test node from deploy/elasticsearch/es-node.sh in a temp workdir, or the node named by
 * FLEET_ES_URL (with FLEET_ES_SERVICE_TOKEN_FILE, FLEET_ES_PASSWORD_FILE and FLEET_ES_PID, as
 * es-node.sh writes them to es.env). The bench deletes its `.fleet-*` indices before each server
 * start: use a node of its own.
 */
export function startBenchElasticsearch(): BenchElasticsearch {
  let env: Record<string, string>;
  let workDir: string | undefined;
  if (process.env.FLEET_ES_URL) {
    env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('FLEET_ES_') && e[1] !== undefined));
  } else {
    workDir = mkdtempSync(join(tmpdir(), 'fleet-bench-es-'));
    execFileSync(script, ['fetch'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
    const envFile = execFileSync(script, ['start', workDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 }).trim();
    env = readEsEnvFile(envFile);
  }
  const url = env.FLEET_ES_URL ?? '';
  const tokenFile = env.FLEET_ES_SERVICE_TOKEN_FILE ?? '';
  const passwordFile = env.FLEET_ES_PASSWORD_FILE ?? '';
  if (!url || !tokenFile || !passwordFile) throw new Error('FLEET_ES_URL needs FLEET_ES_SERVICE_TOKEN_FILE and FLEET_ES_PASSWORD_FILE');
  const pid = env.FLEET_ES_PID ? Number(env.FLEET_ES_PID) : undefined;
  const superuser = `Basic ${Buffer.from(`${env.FLEET_ES_USERNAME ?? 'elastic'}:${readFileSync(passwordFile, 'utf8').trim()}`).toString('base64')}`;
  let stopped = false;
  return {
    url,
    pid,
    serverEnv: { FLEET_STORE_BACKEND: 'elasticsearch', FLEET_ES_HOSTS: url, FLEET_ES_SERVICE_TOKEN_FILE: tokenFile },
    async wipe() {
      const res = await fetch(`${url}/.fleet-*?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true`, {
        method: 'DELETE',
        headers: { Authorization: superuser },
      });
      if (!res.ok) throw new Error(`deleting the .fleet-* indices: ${res.status} ${await res.text()}`);
    },
    cpuSeconds: () => (pid ? processUsage(pid).cpuSeconds : 0),
    stop() {
      if (stopped || !workDir) return;
      stopped = true;
      execFileSync(script, ['clean', workDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
    },
  };
}
