import { readFileSync } from 'node:fs';

/**
 * The `KEY=VALUE` lines es-node.sh writes to `<workdir>/es.env` (FLEET_ES_URL, the token and CA
 * files, …), for the test fixture, the TLS tests and the benches that start or reuse a node.
 */
export function readEsEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1]) env[m[1]] = m[2] ?? '';
  }
  return env;
}
