import { ConflictError, type Logger } from '@fleet/service-kit';
import { DocumentConflictError, type FleetStore } from '@fleet/store';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createAgentPolicy, type PolicyDeps } from './agent-policies';
import { createEnrollmentKey } from './enrollment-keys';

export const DEFAULT_POLICY_ID = 'fleet-default-policy';

export interface BootstrapResult {
  created: boolean;
  tokenFile: string;
}

/**
 * First start: a default agent policy and an enrollment key for it. The token is written once to
 * `<dataDir>/enrollment-token` (mode 0600) and never logged: the logged command reads the file.
 */
export async function bootstrapFleet(
  deps: PolicyDeps & { store: FleetStore; logger: Logger },
  dataDir: string,
  publicUrl: string,
): Promise<BootstrapResult> {
  const tokenFile = `${dataDir}/enrollment-token`;
  const existing = await deps.store.agentPolicies.list({ page: 1, perPage: 1 });
  let created = false;
  if (existing.total === 0) {
    try {
      await createAgentPolicy(deps, { id: DEFAULT_POLICY_ID, name: 'Default policy', namespace: 'default' }, 'bootstrap');
    } catch (err) {
      // Another dispatcher replica bootstrapped the same empty store at the same moment.
      if (err instanceof ConflictError || err instanceof DocumentConflictError) return { created: false, tokenFile };
      throw err;
    }
    const key = await createEnrollmentKey(deps.store, { policy_id: DEFAULT_POLICY_ID, name: 'Default' });
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (key.api_key) writeFileSync(tokenFile, `${key.api_key}\n`, { mode: 0o600 });
    created = true;
    deps.logger.info({ 'fleet.policy.id': DEFAULT_POLICY_ID }, 'created the default agent policy and enrollment key');
  }
  if (existsSync(tokenFile)) {
    const command = enrollCommand(publicUrl, tokenFile);
    deps.logger.info({ command }, `enroll an Elastic Agent with: ${command}`);
  }
  return { created, tokenFile };
}

/**
 * The command a stock Elastic Agent enrolls with. Over plain HTTP the agent refuses the URL unless
 * `--insecure` is given (elastic-agent's enroll flag: "required to use a Fleet Server on a HTTP
 * endpoint"), so the printed command carries it then.
 */
export function enrollCommand(publicUrl: string, tokenFile: string): string {
  const insecure = publicUrl.startsWith('http://') ? ' --insecure' : '';
  return `elastic-agent enroll --url=${publicUrl} --enrollment-token=$(cat ${tokenFile})${insecure}`;
}
