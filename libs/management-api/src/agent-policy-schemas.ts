import { z } from 'zod';
import { jsonObject } from './common-schemas';
import { refinePolicySecrets, secretsField } from './policy-secrets-schemas';

/** An agent policy id: it ends up in URLs and document ids. */
export const agentPolicyId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 characters of [A-Za-z0-9._:-]');

/** Fields Kibana's UI sends that this server accepts and does not use. */
const kibanaOnly = {
  agent_features: z.unknown().optional(),
  advanced_settings: z.unknown().optional(),
  global_data_tags: z.unknown().optional(),
  keep_monitoring_alive: z.unknown().optional(),
  supports_agentless: z.unknown().optional(),
  data_output_id: z.unknown().optional(),
  monitoring_output_id: z.unknown().optional(),
  download_source_id: z.unknown().optional(),
  fleet_server_host_id: z.unknown().optional(),
  is_protected: z.unknown().optional(),
  space_ids: z.unknown().optional(),
  overrides: z.unknown().optional(),
};

/** The settings of an agent policy, and its agent-facing content. */
const policyFields = {
  name: z.string().trim().min(1).max(256),
  namespace: z.string().regex(/^[a-z0-9_]{1,100}$/, 'must be lowercase letters, digits and _ (at most 100)'),
  description: z.string().max(4096),
  monitoring_enabled: z.array(z.enum(['logs', 'metrics'])),
  inactivity_timeout: z.number().int().min(0),
  unenroll_timeout: z.number().int().min(0),
  is_default: z.boolean(),
  is_default_fleet_server: z.boolean(),
  // Each output needs a type (a shape the OpenAPI document can say, unlike a refinement). An
  // output, an input or a stream may carry `secrets` (policy-secrets-schemas.ts).
  outputs: z.record(
    z.string().min(1),
    z.looseObject({ type: z.string({ error: 'each output needs a type' }), secrets: secretsField.optional() }) as unknown as typeof jsonObject,
  ),
  output_permissions: z.record(z.string(), jsonObject),
  inputs: z.array(z.looseObject({ secrets: secretsField.optional() }) as unknown as typeof jsonObject).max(10_000),
  agent: jsonObject,
  fleet: jsonObject,
};

/** The fields of an agent policy a caller sets (create, update, and fleetctl's files). */
export const AGENT_POLICY_FIELDS = Object.keys(policyFields) as (keyof typeof policyFields)[];

/** `POST /agent_policies`: a name, and any other field. */
export const agentPolicyCreateBody = z
  .object({ ...policyFields, id: agentPolicyId.optional(), ...kibanaOnly })
  .partial({
    namespace: true,
    description: true,
    monitoring_enabled: true,
    inactivity_timeout: true,
    unenroll_timeout: true,
    is_default: true,
    is_default_fleet_server: true,
    outputs: true,
    output_permissions: true,
    inputs: true,
    agent: true,
    fleet: true,
  })
  .strict()
  .superRefine(refinePolicySecrets);
export type AgentPolicyCreateInput = z.output<typeof agentPolicyCreateBody>;

/** `PUT /agent_policies/{id}`: any subset of the fields. */
export const agentPolicyUpdateBody = z.object({ ...policyFields, ...kibanaOnly }).partial().strict().superRefine(refinePolicySecrets);
export type AgentPolicyUpdateInput = z.output<typeof agentPolicyUpdateBody>;

/** `POST /agent_policies/delete` (Kibana's form): `force` unenrolls the policy's agents first. */
export const agentPolicyDeleteBody = z.object({ agentPolicyId: z.string().min(1).max(256), force: z.boolean().optional() }).strict();

/** An agent policy as the API answers it. */
export const agentPolicyItem = z.looseObject({
  id: z.string(),
  name: z.string(),
  namespace: z.string(),
  description: z.string().optional(),
  revision: z.number().int(),
  is_managed: z.boolean(),
  is_default: z.boolean().optional(),
  is_default_fleet_server: z.boolean().optional(),
  /** The policy has a `fleet-server` input (Kibana's Fleet Server policies). */
  has_fleet_server: z.boolean().optional(),
  status: z.enum(['active', 'inactive']),
  monitoring_enabled: z.array(z.string()),
  inactivity_timeout: z.number().int(),
  unenroll_timeout: z.number().int().optional(),
  created_at: z.string(),
  updated_at: z.string(),
  updated_by: z.string(),
  outputs: z.record(z.string(), jsonObject).optional(),
  output_permissions: z.record(z.string(), jsonObject).optional(),
  inputs: z.array(jsonObject).optional(),
  agent: jsonObject.optional(),
  fleet: jsonObject.optional(),
  /** The stored secrets the policy names (its `secrets` entries and `$co.elastic.secret{<id>}` placeholders). */
  secret_references: z.array(z.object({ id: z.string() })).optional(),
  /** With `withAgentCount=true` on the list. */
  agents: z.number().int().optional(),
});
export type AgentPolicyItem = z.output<typeof agentPolicyItem>;

/**
 * An output its agents receive without a key of their own, and why (the server's credentials
 * cannot make one there): they get the credentials written in the output instead.
 */
export const outputCredentialWarning = z.object({
  output: z.string(),
  code: z.enum(['configured_credentials', 'no_credentials', 'remote_unusable']),
  message: z.string(),
});
export type OutputCredentialWarning = z.output<typeof outputCredentialWarning>;

/** A policy read or written: the record, and what its outputs' credentials will be (absent: nothing to say). */
export const agentPolicyAnswer = z.object({ item: agentPolicyItem, warnings: z.array(outputCredentialWarning).optional() });
