import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { readEsEnvFile } from '../../../../deploy/elasticsearch/es-env-file';

/**
 * Mocha global fixture: gives the suites a real Elasticsearch node. When FLEET_ES_URL is set the
 * node is used as it is (with FLEET_ES_SERVICE_TOKEN_FILE and FLEET_ES_PASSWORD_FILE);
 * otherwise deploy/elasticsearch/es-node.sh fetches the distribution from Maven Central, starts a
 * node on a free loopback port and stops it when the run ends.
 */
const script = resolve(__dirname, '../../../../deploy/elasticsearch/es-node.sh');
let startedWorkDir: string | undefined;

function loadEnvFile(path: string): void {
  Object.assign(process.env, readEsEnvFile(path));
}

export function mochaGlobalSetup(): void {
  if (process.env.FLEET_ES_URL) return;
  const started = Date.now();
  execFileSync(script, ['fetch'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
  const envFile = execFileSync(script, ['start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 }).trim();
  loadEnvFile(envFile);
  startedWorkDir = process.env.FLEET_ES_WORKDIR;
  process.stderr.write(`elasticsearch ${process.env.FLEET_ES_VERSION ?? '?'} at ${process.env.FLEET_ES_URL ?? '?'} ready in ${Date.now() - started} ms\n`);
}

export function mochaGlobalTeardown(): void {
  if (!startedWorkDir) return;
  execFileSync(script, ['clean', startedWorkDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
}
