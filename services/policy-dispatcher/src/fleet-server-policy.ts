import { ConflictError, type Logger } from '@fleet/service-kit';
import {
  DocumentConflictError,
  FLEET_SERVER_INPUT_TYPE,
  FLEET_SERVER_POLICY_ID,
  type AgentPolicyRecord,
  type JsonObject,
} from '@fleet/store';
import { createAgentPolicy, type PolicyDeps } from './agent-policies';

export const FLEET_SERVER_POLICY_NAME = 'Fleet Server policy';

/**
 * The `fleet-server` input, as Kibana renders the input of a Fleet Server policy's `fleet_server`
 * package policy into the full agent policy (`id`/`package_policy_id` the package policy, `meta`
 * the package). Elastic Agent would start a Fleet Server from it; here the replicas of this server
 * are that Fleet Server, and they check in on the policy themselves (server-presence.ts).
 */
export function fleetServerInput(namespace: string): JsonObject {
  const packagePolicyId = `${FLEET_SERVER_POLICY_ID}-fleet_server`;
  return {
    id: packagePolicyId,
    name: 'fleet_server-1',
    revision: 1,
    type: FLEET_SERVER_INPUT_TYPE,
    data_stream: { namespace },
    use_output: 'default',
    package_policy_id: packagePolicyId,
    meta: { package: { name: 'fleet_server' } },
  };
}

/**
 * Makes sure the server's Fleet Server policy exists: managed (hosted, in Kibana's words: the
 * management API refuses to delete it), the default Fleet Server policy, with a `fleet-server`
 * input (so `has_fleet_server`). Idempotent across replicas: an existing policy is left as it is,
 * and a replica that loses the race to create it reads the winner's.
 */
export async function ensureFleetServerPolicy(deps: PolicyDeps & { logger: Logger }): Promise<AgentPolicyRecord | undefined> {
  const existing = await deps.store.agentPolicies.get(FLEET_SERVER_POLICY_ID);
  if (existing) return existing;
  try {
    const created = await createAgentPolicy(
      deps,
      {
        id: FLEET_SERVER_POLICY_ID,
        name: FLEET_SERVER_POLICY_NAME,
        namespace: 'default',
        description: "This server's own Fleet Server policy: each replica checks in on it, as Kibana expects of a Fleet Server.",
        is_default_fleet_server: true,
        inputs: [fleetServerInput('default')],
      },
      'bootstrap',
      { is_managed: true },
    );
    deps.logger.info({ 'fleet.policy.id': FLEET_SERVER_POLICY_ID }, 'created the Fleet Server policy');
    return created;
  } catch (err) {
    if (!(err instanceof ConflictError || err instanceof DocumentConflictError)) throw err;
    const winner = await deps.store.agentPolicies.get(FLEET_SERVER_POLICY_ID);
    // The id is free but the name is taken: a user's policy. Say so rather than rename anything.
    if (!winner) deps.logger.warn({ name: FLEET_SERVER_POLICY_NAME }, `the Fleet Server policy was not created: a policy is already named '${FLEET_SERVER_POLICY_NAME}'`);
    return winner;
  }
}

