import { ConflictError, type Logger } from '@fleet/service-kit';
import { DocumentConflictError, newId, StoreIdentityError, type FleetStore } from '@fleet/store';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createAgentPolicy, type PolicyDeps } from './agent-policies';
import { createEnrollmentKey } from './enrollment-keys';
import { ensureFleetServerPolicy } from './fleet-server-policy';

export const DEFAULT_POLICY_ID = 'fleet-default-policy';

export interface BootstrapResult {
  created: boolean;
  tokenFile: string;
  storeId: string;
}

/** The file in the data directory naming the store it belongs to. */
export const STORE_ID_FILE = 'store-id';

/**
 * Matches the store with the data directory before anything is bootstrapped. The store records an
 * id at its first start, and the data directory records it in `store-id` beside its token files.
 * - A store with an id that the directory does not name (another install's store, or the
 *   directory of another install) stops the process.
 * - An empty store without an id whose directory names a store, or holds an enrollment token, has
 *   lost its data (a zero-length or replaced `fleet.db`, a wiped cluster): it is never
 *   bootstrapped over, since a new default policy and token would lock out every enrolled agent.
 * - Otherwise the store's id is recorded (or created, on a first start) on both sides.
 */
export async function reconcileStoreIdentity(store: FleetStore, dataDir: string): Promise<{ storeId: string; firstStart: boolean }> {
  const markerFile = `${dataDir}/${STORE_ID_FILE}`;
  const marker = existsSync(markerFile) ? readFileSync(markerFile, 'utf8').trim() : undefined;
  const recorded = await store.identity.get();
  if (recorded) {
    if (marker && marker !== recorded) {
      throw new StoreIdentityError(
        `the data directory ${dataDir} belongs to store ${marker}, but the configured store is ${recorded}: ` +
          'point the server at its own store, or at a data directory of this store',
      );
    }
    if (!marker) writeMarker(dataDir, markerFile, recorded);
    return { storeId: recorded, firstStart: false };
  }
  const policies = await store.agentPolicies.list({ page: 1, perPage: 1 });
  const empty = policies.total === 0;
  if (empty && (marker || existsSync(`${dataDir}/enrollment-token`))) {
    throw new StoreIdentityError(
      `the store is empty, but the data directory ${dataDir} belongs to ${marker ? `store ${marker}` : 'an earlier install (it holds an enrollment token)'}: ` +
        'refusing to bootstrap over it, which would lock out every enrolled agent. Restore the store from a backup, ' +
        `or move ${dataDir} aside to start a new fleet on purpose`,
    );
  }
  // A first start, or a store written before stores had ids: it gets one now.
  const storeId = await store.identity.claim(newId());
  writeMarker(dataDir, markerFile, storeId);
  return { storeId, firstStart: empty };
}

function writeMarker(dataDir: string, file: string, storeId: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  writeFileSync(file, `${storeId}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export interface BootstrapOptions {
  /** The server's CA, named in the logged enrollment command. */
  caFile?: string | undefined;
  /** Keep the Fleet Server policy (created on every start where it is missing): the presence setting. */
  fleetServerPolicy?: boolean;
}

/**
 * First start (see `reconcileStoreIdentity`): a default agent policy and an enrollment key for it. The token is written once to
 * `<dataDir>/enrollment-token` (mode 0600) and never logged: the logged command reads the file.
 * Every start: the Fleet Server policy, where it is missing and the presence is on.
 */
export async function bootstrapFleet(
  deps: PolicyDeps & { store: FleetStore; logger: Logger },
  dataDir: string,
  publicUrl: string,
  options: BootstrapOptions = {},
): Promise<BootstrapResult> {
  const result = await bootstrapDefaultPolicy(deps, dataDir, publicUrl, options.caFile);
  if (options.fleetServerPolicy) await ensureFleetServerPolicy(deps);
  return result;
}

async function bootstrapDefaultPolicy(
  deps: PolicyDeps & { store: FleetStore; logger: Logger },
  dataDir: string,
  publicUrl: string,
  caFile?: string,
): Promise<BootstrapResult> {
  const tokenFile = `${dataDir}/enrollment-token`;
  const { storeId, firstStart } = await reconcileStoreIdentity(deps.store, dataDir);
  let created = false;
  if (firstStart) {
    try {
      await createAgentPolicy(deps, { id: DEFAULT_POLICY_ID, name: 'Default policy', namespace: 'default' }, 'bootstrap');
    } catch (err) {
      // Another dispatcher replica bootstrapped the same empty store at the same moment.
      if (err instanceof ConflictError || err instanceof DocumentConflictError) return { created: false, tokenFile, storeId };
      throw err;
    }
    const key = await createEnrollmentKey(deps.store, { policy_id: DEFAULT_POLICY_ID, name: 'Default' });
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (key.api_key) writeFileSync(tokenFile, `${key.api_key}\n`, { mode: 0o600 });
    created = true;
    deps.logger.info({ 'fleet.policy.id': DEFAULT_POLICY_ID }, 'created the default agent policy and enrollment key');
  }
  if (existsSync(tokenFile)) {
    const command = enrollCommand(publicUrl, tokenFile, caFile);
    deps.logger.info({ command }, `enroll an Elastic Agent with: ${command}`);
  }
  return { created, tokenFile, storeId };
}

/**
 * The command a stock Elastic Agent enrolls with. Over plain HTTP the agent refuses the URL unless
 * `--insecure` is given (elastic-agent's enroll flag: "required to use a Fleet Server on a HTTP
 * endpoint"), so the printed command carries it then. A server that made its own CA names it with
 * `--certificate-authorities`, so the agent verifies the server instead of trusting any certificate.
 */
export function enrollCommand(publicUrl: string, tokenFile: string, caFile?: string): string {
  const insecure = publicUrl.startsWith('http://') ? ' --insecure' : '';
  const ca = caFile && publicUrl.startsWith('https://') ? ` --certificate-authorities=${caFile}` : '';
  return `elastic-agent enroll --url=${publicUrl} --enrollment-token=$(cat ${tokenFile})${ca}${insecure}`;
}
