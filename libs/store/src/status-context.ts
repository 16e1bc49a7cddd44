import type { StatusContext } from './agent-status';
import type { AgentPolicyStore, PolicyRevisionStore } from './store-port';

/**
 * The status context of each policy (latest revision, inactivity timeout) for one evaluation time,
 * read once per policy however many agents need it. Create one per request; it never expires.
 */
export function statusContexts(
  store: { policies: PolicyRevisionStore; agentPolicies: AgentPolicyStore },
  now: Date,
): (policyId: string) => Promise<StatusContext> {
  const cache = new Map<string, Promise<StatusContext>>();
  return (policyId) => {
    let ctx = cache.get(policyId);
    if (!ctx) {
      ctx = Promise.all([store.policies.latest(policyId), store.agentPolicies.get(policyId)]).then(([latest, record]) => ({
        now,
        ...(latest ? { latestPolicyRevision: latest._source.revision_idx } : {}),
        ...(record ? { inactivityTimeoutSeconds: record.inactivity_timeout } : {}),
      }));
      cache.set(policyId, ctx);
    }
    return ctx;
  };
}
