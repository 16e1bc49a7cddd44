/** The management API's answers the policy, rollout and enrollment-token pages read (Kibana's shapes). */

export type JsonObject = Record<string, unknown>;

/** An output whose agents get no API key of their own, and why (the server's `warnings` on a policy). */
export interface OutputCredentialWarning {
  output: string;
  code: string;
  message: string;
}

export interface AgentPolicy {
  id: string;
  name: string;
  namespace: string;
  description?: string;
  revision: number;
  is_managed: boolean;
  is_default?: boolean;
  is_default_fleet_server?: boolean;
  status: 'active' | 'inactive';
  monitoring_enabled: string[];
  inactivity_timeout: number;
  unenroll_timeout?: number;
  created_at: string;
  updated_at: string;
  updated_by: string;
  outputs?: Record<string, JsonObject>;
  output_permissions?: Record<string, JsonObject>;
  inputs?: JsonObject[];
  agent?: JsonObject;
  fleet?: JsonObject;
  /** With `withAgentCount=true`. */
  agents?: number;
}

export interface ListAnswer<T> {
  items: T[];
  total: number;
  page: number;
  perPage: number;
}

export interface PolicyRevisionSummary {
  revision_idx: number;
  created_at: string;
  coordinator_idx: number;
}

export interface PolicyRevision {
  revision_idx: number;
  created_at: string;
  data: JsonObject;
}

export interface EnrollmentToken {
  id: string;
  api_key_id: string;
  /** Only in the answer to the creation. */
  api_key?: string;
  name: string;
  active: boolean;
  policy_id: string;
  created_at: string;
  expire_at?: string;
}

export interface RolloutBehindAgent {
  agent_id: string;
  hostname?: string;
  status: string;
  reason: 'offline' | 'error' | 'pending';
  error?: string;
  acked_revision?: number;
  last_checkin?: string;
}

export interface RolloutSnapshot {
  kind: 'policy' | 'action';
  policy_id?: string;
  revision?: number;
  action_id?: string;
  action_type?: string;
  started_at: string;
  sampled_at: string;
  targeted: number;
  delivered: number;
  acknowledged: number;
  failed: number;
  complete: boolean;
  behind: RolloutBehindAgent[];
  behind_total: number;
}

/** A KQL clause `field:"value"` with the value quoted and escaped (the server parses it, never splices it). */
export function kueryEquals(field: string, value: string): string {
  return `${field}:"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Where the console shows a policy revision rolling out. */
export const rolloutPathOfPolicy = (policyId: string, revision?: number): string =>
  `/rollouts/policies/${encodeURIComponent(policyId)}${revision !== undefined ? `?revision=${revision}` : ''}`;

export const agentsOfPolicyPath = (policyId: string): string =>
  `/agents?${new URLSearchParams({ kuery: kueryEquals('policy_id', policyId) }).toString()}`;
