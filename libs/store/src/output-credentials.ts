import type { FullAgentPolicy, JsonObject, JsonValue } from './documents';
import type { OutputKeyTarget } from './output-key-cluster';
import { REMOTE_ELASTICSEARCH } from './remote-outputs';

/** Why an output of a policy goes out without a per-agent key. */
export type OutputCredentialCode = 'configured_credentials' | 'no_credentials' | 'remote_unusable';

/** Said when a policy is saved (and logged once per revision by each gateway). */
export interface OutputCredentialNote {
  output: string;
  code: OutputCredentialCode;
  message: string;
}

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: JsonValue | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The output carries credentials of its own: an API key, a user, a client certificate, or secrets. */
function hasCredentials(output: JsonObject): boolean {
  const ssl = isObject(output.ssl) ? output.ssl : {};
  return ['api_key', 'username', 'password'].some((k) => output[k] !== undefined) || isObject(output.secrets) || ssl.certificate !== undefined;
}

/** A remote output has what its keys are made with: hosts, and a service token (a value or a secret reference). */
function remoteUsable(output: JsonObject): boolean {
  const secrets = isObject(output.secrets) ? output.secrets : {};
  const token = output.service_token ?? secrets.service_token;
  return strings(output.hosts).length > 0 && (typeof token === 'string' ? token.length > 0 : isObject(token));
}

/** Why this server cannot make a key for an `elasticsearch` output that it would otherwise. */
function whyNoKey(output: JsonObject, target: OutputKeyTarget | undefined): string {
  if (!target) {
    return 'This server makes no per-agent keys for elasticsearch outputs: its credentials are built-in and no output key cluster is configured (FLEET_OUTPUT_KEYS_HOSTS and FLEET_OUTPUT_KEYS_SERVICE_TOKEN_FILE).';
  }
  return `Its hosts (${strings(output.hosts).join(', ') || 'none'}) are not those of the output key cluster (FLEET_OUTPUT_KEYS_HOSTS); for another cluster, use a remote_elasticsearch output with that cluster's service token.`;
}

/**
 * The outputs of a policy that its agents will receive without a key of their own, and why: the
 * agent gets the credentials written in the output instead (the documented fallback,
 * docs/architecture.md#per-agent-output-api-keys). `target` is where this server makes keys
 * (`outputKeyTarget`). Outputs of other types (logstash, kafka) never get keys and are not noted.
 */
export function outputCredentialNotes(policy: Pick<FullAgentPolicy, 'outputs' | 'output_permissions'>, target: OutputKeyTarget | undefined): OutputCredentialNote[] {
  const notes: OutputCredentialNote[] = [];
  for (const [name, output] of Object.entries(policy.outputs ?? {})) {
    if (output.type === REMOTE_ELASTICSEARCH) {
      if (!remoteUsable(output)) {
        notes.push({
          output: name,
          code: 'remote_unusable',
          message: `Output "${name}" (remote_elasticsearch) has no hosts or no service_token: its agents get no key for it, and it is delivered without credentials.`,
        });
      }
      continue;
    }
    if (output.type !== 'elasticsearch') continue;
    const permitted = policy.output_permissions?.[name] !== undefined;
    if (permitted && target?.covers(strings(output.hosts))) continue;
    const why = permitted ? whyNoKey(output, target) : 'The policy gives it no output_permissions, which a per-agent key is made from.';
    notes.push(
      hasCredentials(output)
        ? {
            output: name,
            code: 'configured_credentials',
            message: `Output "${name}" is delivered with the credentials written in it, the same for every agent, which this server cannot revoke per agent. ${why}`,
          }
        : {
            output: name,
            code: 'no_credentials',
            message: `Output "${name}" is delivered without credentials: its agents can only write to a cluster without security. ${why}`,
          },
    );
  }
  return notes;
}
