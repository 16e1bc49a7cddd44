import { REMOTE_ELASTICSEARCH, referencedSecretIds, type AgentPolicyRecord, type FullAgentPolicy, type JsonObject, type PolicyRevisionDoc } from '@fleet/store';
import type { FleetDefaultsConfig } from './dispatcher-config';

/**
 * Renders the agent-facing policy of a revision, the way Kibana's Fleet builds the full agent
 * policy: outputs, output permissions, inputs, agent settings (monitoring, download) and fleet hosts.
 * This is the once-per-revision preparation; gateways only serialize the result.
 */
export function renderFullAgentPolicy(record: AgentPolicyRecord, defaults: FleetDefaultsConfig): FullAgentPolicy {
  const outputs: Record<string, JsonObject> = record.outputs ?? {
    default: { type: 'elasticsearch', hosts: [...defaults.outputHosts] },
  };
  const outputPermissions: Record<string, JsonObject> = record.output_permissions ?? {};
  if (!record.output_permissions) {
    for (const [name, output] of Object.entries(outputs)) {
      if (output.type === 'elasticsearch' || output.type === REMOTE_ELASTICSEARCH) {
        outputPermissions[name] = { _elastic_agent_checks: { cluster: ['monitor'] } };
      }
    }
  }
  const firstOutput = Object.keys(outputs)[0] ?? 'default';
  const monitoring = record.monitoring_enabled;
  const agent: JsonObject = {
    monitoring: {
      enabled: monitoring.length > 0,
      use_output: firstOutput,
      namespace: record.namespace,
      logs: monitoring.includes('logs'),
      metrics: monitoring.includes('metrics'),
    },
    download: { sourceURI: 'https://artifacts.elastic.co/downloads/' },
    features: {},
    protection: { enabled: false, uninstall_token_hash: '', signing_key: '' },
    ...(record.agent ?? {}),
  };
  const policy: FullAgentPolicy = {
    id: record.id,
    revision: record.revision,
    outputs,
    output_permissions: outputPermissions,
    inputs: record.inputs ?? [],
    agent,
    fleet: record.fleet ?? { hosts: [...defaults.publicUrls] },
  };
  // Kibana's list of the stored secrets the policy names; delivery resolves them (policy-secrets.ts).
  const secretIds = referencedSecretIds(policy);
  if (secretIds.length) policy.secret_references = secretIds.map((id) => ({ id }));
  return policy;
}

export function policyRevisionDoc(record: AgentPolicyRecord, defaults: FleetDefaultsConfig, now: Date): PolicyRevisionDoc {
  return {
    '@timestamp': now.toISOString(),
    policy_id: record.id,
    revision_idx: record.revision,
    coordinator_idx: 0,
    default_fleet_server: record.is_default_fleet_server ?? false,
    ...(record.unenroll_timeout ? { unenroll_timeout: record.unenroll_timeout } : {}),
    data: renderFullAgentPolicy(record, defaults),
  };
}
