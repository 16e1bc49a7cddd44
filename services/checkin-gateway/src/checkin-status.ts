import type { CheckinRequest } from '@fleet/agent-protocol';
import { BadRequestError, compareSemVer, parseSemVer } from '@fleet/service-kit';
import { isoSeconds, type AgentDoc, type Component } from '@fleet/store';
import { isDeepStrictEqual } from 'node:util';

/*
 * What a checkin writes back to the agent's document: the batched status fields, the policy the
 * agent reports running, and its upgrade details. Pure functions of the stored document and the
 * request; the long poll (checkin.ts) queues or writes what they return.
 */

const UPGRADE_STATE_METADATA: Record<string, string | undefined> = { UPG_FAILED: 'error_msg', UPG_SCHEDULED: 'scheduled_at' };

/** `unhealthy_reason` from the components, as the reference derives it; undefined keeps the stored value. */
export function unhealthyReason(components: Component[] | undefined): string[] | undefined {
  if (!components) return undefined;
  const reasons = new Set<string>();
  const bad = (s: string) => s === 'FAILED' || s === 'DEGRADED';
  for (const c of components) {
    if (!bad(c.status)) continue;
    let found = false;
    for (const u of c.units ?? []) {
      if (!bad(u.status)) continue;
      if (u.type === 'input') reasons.add('input');
      else if (u.type === 'output') reasons.add('output');
      else continue;
      found = true;
    }
    if (!found) reasons.add('other');
  }
  return [...reasons].sort();
}

/** Validates upgrade details metadata by state; invalid details are the agent's error (400). */
export function checkUpgradeDetails(details: CheckinRequest['upgrade_details']): void {
  if (!details) return;
  const required = UPGRADE_STATE_METADATA[details.state];
  if (!required) return;
  const value = details.metadata?.[required];
  if (typeof value !== 'string' || value === '') {
    throw new BadRequestError(`upgrade_details.metadata.${required} is required in state ${details.state}`);
  }
}

/** The status fields a checkin writes (batched), given what the document already holds. */
export function checkinStatusFields(
  agent: AgentDoc,
  body: CheckinRequest,
  agentVersion: string,
  seqNo: number,
  now: Date,
): Partial<AgentDoc> {
  const fields: Partial<AgentDoc> = {
    last_checkin: isoSeconds(now),
    updated_at: now.toISOString(),
    last_checkin_status: body.status,
    last_checkin_message: body.message,
  };
  if (body.components) {
    if (!isDeepStrictEqual(body.components, agent.components)) fields.components = body.components;
    fields.unhealthy_reason = unhealthyReason(body.components) ?? null;
  }
  if (body.local_metadata && !isDeepStrictEqual(body.local_metadata, agent.local_metadata)) {
    fields.local_metadata = body.local_metadata;
  }
  if (agentVersion !== agent.agent.version) fields.agent = { ...agent.agent, version: agentVersion };
  if ((agent.action_seq_no?.[0] ?? -1) !== seqNo) fields.action_seq_no = [seqNo];
  const rollbacks = body.upgrade?.rollbacks ?? [];
  if (!isDeepStrictEqual(rollbacks, agent.upgrade?.rollbacks ?? [])) fields.upgrade = { ...agent.upgrade, rollbacks };
  if (agent.audit_unenrolled_reason || agent.audit_unenrolled_time) {
    fields.audit_unenrolled_reason = null;
    fields.audit_unenrolled_time = null;
  }
  return fields;
}

/**
 * The policy the agent reports running, written at once (not batched) and only when it changed:
 * once per revision per agent. A guarded update, so a report never lowers a revision of the same
 * policy that an ack has meanwhile raised (a batched last-write-wins would undo that ack).
 */
export function reportedPolicyChange(agent: AgentDoc, body: CheckinRequest) {
  const policyId = body.agent_policy_id;
  const revision = body.policy_revision_idx;
  if (policyId === undefined || revision === undefined) return undefined;
  if (policyId === agent.agent_policy_id && revision === agent.policy_revision_idx) return undefined;
  return (current: AgentDoc): Partial<AgentDoc> | undefined => {
    if (current.agent_policy_id === policyId && current.policy_revision_idx === revision) return undefined;
    const acked = current.policy_revision_idx ?? -1;
    if (current.policy_id === policyId && acked > revision) {
      return current.agent_policy_id === policyId ? undefined : { agent_policy_id: policyId };
    }
    return { agent_policy_id: policyId, policy_revision_idx: revision };
  };
}

/**
 * The upgrade fields to write at once (not batched), or undefined when nothing changed.
 * `upgrade_details` is kept as the agent reports it, with the metadata keys Kibana reads in any
 * state (the reference re-packs UPG_FAILED metadata to `{failed_state, error_msg}` and so drops
 * the `retry_error_msg`/`retry_until` an agent still reports after retrying).
 * When the agent stops reporting details, its upgrade ended: done, unless the last report was
 * UPG_FAILED and the agent still runs an older version than the target (it gave up or restarted),
 * which the reference would record as a success.
 */
export function upgradeFields(agent: AgentDoc, body: CheckinRequest, agentVersion: string, now: Date): Partial<AgentDoc> | undefined {
  const details = body.upgrade_details;
  if (!details) {
    const last = agent.upgrade_details;
    if (!last) return undefined;
    const running = parseSemVer(agentVersion);
    const target = parseSemVer(last.target_version);
    if (last.state === 'UPG_FAILED' && running && target && compareSemVer(running, target) < 0) {
      return { upgrade_details: null, upgrade_started_at: null };
    }
    return { upgrade_details: null, upgrade_started_at: null, upgraded_at: now.toISOString() };
  }
  const stored = withKnownMetadata(details);
  if (isDeepStrictEqual(stored, agent.upgrade_details)) return undefined;
  const fields: Partial<AgentDoc> = { upgrade_details: stored };
  if (details.state === 'UPG_WATCHING' && agent.upgrade_attempts) fields.upgrade_attempts = null;
  return fields;
}

/** The `upgrade_details.metadata` keys Kibana reads (any state); others are not stored. */
const UPGRADE_METADATA_KEYS = ['scheduled_at', 'download_percent', 'download_rate', 'retry_error_msg', 'retry_until', 'failed_state', 'error_msg'];

function withKnownMetadata(details: NonNullable<CheckinRequest['upgrade_details']>): NonNullable<AgentDoc['upgrade_details']> {
  if (!details.metadata) return details;
  const metadata = Object.fromEntries(Object.entries(details.metadata).filter(([k]) => UPGRADE_METADATA_KEYS.includes(k)));
  return { ...details, metadata };
}

