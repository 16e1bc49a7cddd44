/**
 * The id of a POLICY_CHANGE action, `policy:<policy_id>:<revision_idx>`, as the reference builds it:
 * the agent acks it like any action, and the ack is how a gateway learns which revision it runs.
 * The only place the format is written and read.
 */
export function policyActionId(policyId: string, revision: number): string {
  return `policy:${policyId}:${revision}`;
}

/** Reads a POLICY_CHANGE action id (and the legacy `policy:<id>:<rev>:<coord>`); undefined for any other id. */
export function parsePolicyActionId(actionId: string): { policyId: string; revision: number } | undefined {
  if (!actionId.startsWith('policy:')) return undefined;
  const parts = actionId.split(':');
  if (parts.length !== 3 && parts.length !== 4) return undefined;
  const revision = Number(parts[2]);
  if (!parts[1] || !Number.isInteger(revision)) return undefined;
  return { policyId: parts[1], revision };
}
