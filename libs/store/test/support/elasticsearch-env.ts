import { ElasticsearchFleetStore, type ElasticsearchStoreOptions } from '@fleet/store';
import { readFileSync } from 'node:fs';

const readSecret = (file: string | undefined): string | undefined => (file ? readFileSync(file, 'utf8').trim() : undefined);

/** Connection settings of the test node (set by the global fixture or by the caller's environment). */
export function testConnection(): ElasticsearchStoreOptions {
  const url = process.env.FLEET_ES_URL;
  if (!url) throw new Error('FLEET_ES_URL is not set: the Elasticsearch fixture did not run');
  const serviceToken = readSecret(process.env.FLEET_ES_SERVICE_TOKEN_FILE);
  return { hosts: [url], ...(serviceToken ? { serviceToken } : {}), requestTimeoutMs: 30_000 };
}

/** Superuser credentials, for test clean-up only (the service token may not delete indices). */
function adminAuthHeader(): string | undefined {
  const password = readSecret(process.env.FLEET_ES_PASSWORD_FILE);
  if (!password) return undefined;
  return `Basic ${Buffer.from(`${process.env.FLEET_ES_USERNAME ?? 'elastic'}:${password}`).toString('base64')}`;
}

/** Deletes every index this project writes, so a test starts from an empty cluster. */
export async function wipeFleetIndices(): Promise<void> {
  const url = process.env.FLEET_ES_URL;
  if (!url) throw new Error('FLEET_ES_URL is not set');
  const auth = adminAuthHeader();
  const res = await fetch(`${url}/.fleet-*?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true`, {
    method: 'DELETE',
    headers: auth ? { authorization: auth } : {},
  });
  if (!res.ok) throw new Error(`cannot wipe test indices: ${res.status} ${await res.text()}`);
}

export async function openTestStore(): Promise<ElasticsearchFleetStore> {
  return ElasticsearchFleetStore.open(testConnection());
}

/** A raw, superuser read of the test node (for checking documents as Kibana would see them). */
export async function adminGet<T>(path: string): Promise<T> {
  const url = process.env.FLEET_ES_URL;
  if (!url) throw new Error('FLEET_ES_URL is not set');
  const auth = adminAuthHeader();
  const res = await fetch(`${url}${path}`, { headers: auth ? { authorization: auth } : {} });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A raw, superuser DELETE on the test node (missing targets are fine). */
export async function adminDelete(path: string): Promise<void> {
  const url = process.env.FLEET_ES_URL;
  if (!url) throw new Error('FLEET_ES_URL is not set');
  const auth = adminAuthHeader();
  const res = await fetch(`${url}${path}`, { method: 'DELETE', headers: auth ? { authorization: auth } : {} });
  if (!res.ok && res.status !== 404) throw new Error(`DELETE ${path}: ${res.status} ${await res.text()}`);
}
