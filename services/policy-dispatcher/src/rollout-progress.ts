import type { DeliveryLedger, RolloutRef } from '@fleet/notifications';
import { NotFoundError, type Logger } from '@fleet/service-kit';
import {
  deriveAgentStatus,
  OFFLINE_AFTER_MS,
  statusContexts,
  type AgentStatus,
  type BehindAgent,
  type FleetStore,
  type JsonValue,
  type RolloutCounts,
} from '@fleet/store';

/** Agents listed as behind at most. */
export const BEHIND_LIMIT = 100;

/** What the console follows: a policy revision (latest when none is named) or an action. */
export type RolloutTarget = { kind: 'policy'; policyId: string; revision?: number } | { kind: 'action'; actionId: string };

export interface BehindEntry {
  agent_id: string;
  hostname?: string;
  status: AgentStatus;
  reason: 'offline' | 'error' | 'pending';
  error?: string;
  acked_revision?: number;
  last_checkin?: string;
}

/** What `GET /api/fleet/rollouts/...` answers and its stream sends (docs/management-api.md, the routes table). */
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
  behind: BehindEntry[];
  behind_total: number;
}

export interface RolloutProgressDeps {
  store: FleetStore;
  /** Deliveries recorded by the gateways; without one (or while it is away) delivered = acknowledged + failed. */
  ledger?: Pick<DeliveryLedger, 'deliveredCount'>;
  logger: Logger;
  now?: () => Date;
}

/** The key of a target for sharing one computation between streams (`revision` resolved or not). */
export function targetKey(target: RolloutTarget): string {
  return target.kind === 'policy' ? `policy:${target.policyId}:${target.revision ?? 'latest'}` : `action:${target.actionId}`;
}

/**
 * Where a rollout stands now: counted by the store, delivered from the ledger (never fewer than
 * the agents that answered, never more than those targeted), and the agents behind with why.
 * NotFoundError when the policy, its revision or the action does not exist.
 */
export async function rolloutSnapshot(deps: RolloutProgressDeps, target: RolloutTarget): Promise<RolloutSnapshot> {
  const now = (deps.now ?? (() => new Date()))();
  const { store } = deps;
  let head: Pick<RolloutSnapshot, 'kind' | 'policy_id' | 'revision' | 'action_id' | 'action_type' | 'started_at'>;
  let ref: RolloutRef;
  let counts: RolloutCounts;
  if (target.kind === 'policy') {
    const doc =
      target.revision === undefined ? await store.policies.latest(target.policyId) : await store.policies.get(target.policyId, target.revision);
    if (!doc) {
      throw new NotFoundError(
        target.revision === undefined ? `Agent policy ${target.policyId} has no revision` : `Agent policy ${target.policyId} has no revision ${target.revision}`,
      );
    }
    const revision = doc._source.revision_idx;
    head = { kind: 'policy', policy_id: target.policyId, revision, started_at: doc._source['@timestamp'] };
    ref = { kind: 'policy', policyId: target.policyId, revision };
    counts = await store.rollouts.policyProgress({ policyId: target.policyId, revision, behindLimit: BEHIND_LIMIT });
  } else {
    const doc = await store.actions.findByActionId(target.actionId);
    if (!doc) throw new NotFoundError(`Action ${target.actionId} not found`);
    head = { kind: 'action', action_id: target.actionId, action_type: doc._source.type, started_at: doc._source['@timestamp'] };
    ref = { kind: 'action', actionId: target.actionId };
    counts = await store.rollouts.actionProgress({ actionId: target.actionId, behindLimit: BEHIND_LIMIT });
  }
  const answered = counts.acknowledged + counts.failed;
  const recorded = await deliveredCount(deps, ref);
  const contextOf = statusContexts(store, now);
  const behind = await Promise.all(counts.behind.map(async (b) => behindEntry(b, deriveAgentStatus(b.agent._source, await contextOf(b.agent._source.policy_id)), now)));
  return {
    ...head,
    sampled_at: now.toISOString(),
    targeted: counts.targeted,
    delivered: Math.min(counts.targeted, Math.max(recorded, answered)),
    acknowledged: counts.acknowledged,
    failed: counts.failed,
    complete: answered === counts.targeted,
    behind,
    behind_total: counts.targeted - counts.acknowledged,
  };
}

async function deliveredCount(deps: RolloutProgressDeps, ref: RolloutRef): Promise<number> {
  if (!deps.ledger) return 0;
  try {
    return await deps.ledger.deliveredCount(ref);
  } catch (err) {
    deps.logger.debug({ err }, 'delivery ledger unreadable; delivered counts acknowledgements only');
    return 0;
  }
}

/** Statuses of an agent that is not checking in. */
const SILENT: ReadonlySet<AgentStatus> = new Set(['offline', 'inactive', 'orphaned', 'uninstalled']);

/**
 * Why an agent is behind: it reported a failure (`error`); it is not checking in (`offline`: its
 * status says so, or it never checked in since enrolling longer ago than an agent goes offline);
 * else the rollout has yet to reach it or be applied (`pending`).
 */
function behindEntry(b: BehindAgent, status: AgentStatus, now: Date): BehindEntry {
  const doc = b.agent._source;
  const neverSeen = !doc.last_checkin && now.getTime() - Date.parse(doc.enrolled_at) > OFFLINE_AFTER_MS;
  const reason: BehindEntry['reason'] = b.failed ? 'error' : SILENT.has(status) || neverSeen ? 'offline' : 'pending';
  const hostname = hostnameOf(doc.local_metadata);
  return {
    agent_id: b.agent._id,
    ...(hostname ? { hostname } : {}),
    status,
    reason,
    ...(b.failed && b.error ? { error: b.error } : {}),
    ...(typeof doc.policy_revision_idx === 'number' ? { acked_revision: doc.policy_revision_idx } : {}),
    ...(doc.last_checkin ? { last_checkin: doc.last_checkin } : {}),
  };
}

function hostnameOf(meta: JsonValue | undefined): string | undefined {
  const host = meta && typeof meta === 'object' && !Array.isArray(meta) ? meta.host : undefined;
  const name = host && typeof host === 'object' && !Array.isArray(host) ? host.hostname : undefined;
  return typeof name === 'string' ? name : undefined;
}
