import type { AgentDoc, Hit, PolicyRevisionDoc } from './documents';

/** An agent that has not acknowledged a rollout, with its failure when it reported one. */
export interface BehindAgent {
  agent: Hit<AgentDoc>;
  /** It reported a failure (see `RolloutCounts.failed`). */
  failed: boolean;
  /** Action: the error of its result. Policy: the message of its last checkin with status error. */
  error?: string;
}

/**
 * Where a rollout stands, counted by the store (never by listing every agent into memory):
 * - `targeted`: agents the rollout is for;
 * - `acknowledged`: of them, those that applied it;
 * - `failed`: of them, those that reported a failure instead (and did not apply it);
 * - `behind`: at most `behindLimit` targeted agents that did not apply it, failed ones first, then
 *   the longest silent first (last checkin, or enrollment when they never checked in).
 */
export interface RolloutCounts {
  targeted: number;
  acknowledged: number;
  failed: number;
  behind: BehindAgent[];
}

export interface RolloutStore {
  /** Revision `revision` of a policy (its `.fleet-policies` document), or undefined. */
  revision(policyId: string, revision: number): Promise<Hit<PolicyRevisionDoc> | undefined>;
  /**
   * A policy revision: targeted = active agents of the policy; acknowledged = those whose
   * `policy_revision_idx` ≥ `revision`; failed = the others whose last checkin reported status
   * `error` (a policy the agent could not apply shows so; POLICY_CHANGE acks with an error are not
   * stored, as in the reference).
   */
  policyProgress(query: { policyId: string; revision: number; behindLimit: number }): Promise<RolloutCounts>;
  /**
   * An action: targeted = the agents its documents name (an action may be split over several
   * documents; at most `MAX_ACTION_TARGETS` are counted) that are active or answered it (an
   * UNENROLL's agents turn inactive once they acknowledge); acknowledged = results without error;
   * failed = results with an error.
   */
  actionProgress(query: { actionId: string; behindLimit: number }): Promise<RolloutCounts>;
}

/** Agents of one action the progress counts at most (the management API addresses ≤ 10,000 per call). */
export const MAX_ACTION_TARGETS = 100_000;
