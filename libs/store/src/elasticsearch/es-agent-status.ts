import type { estypes } from '@elastic/elasticsearch';
import { AGENT_STATUSES, OFFLINE_AFTER_MS, type AgentStatus, type StatusContext } from '../agent-status';

type Query = estypes.QueryDslQueryContainer;

const exists = (field: string): Query => ({ exists: { field } });
const missing = (field: string): Query => ({ bool: { must_not: exists(field) } });
const term = (field: string, value: string | boolean, caseInsensitive = false): Query => ({
  term: { [field]: caseInsensitive ? { value: value as string, case_insensitive: true } : { value } },
});
const all = (...filter: Query[]): Query => ({ bool: { filter } });
const any = (should: Query[]): Query => (should.length ? { bool: { should, minimum_should_match: 1 } } : { bool: { must_not: { match_all: {} } } });

/**
 * The conditions of `deriveAgentStatus`, in its order, as Elasticsearch queries (no script): the
 * first condition an agent meets gives its status. Per-policy parts (the inactivity timeout, the
 * latest revision) are one clause per distinct value among the policies of `contexts`.
 */
function orderedConditions(now: Date, contexts: Map<string, StatusContext>): Array<[AgentStatus, Query]> {
  const active = term('active', true);
  // Policies grouped by their timeout and by their latest revision: one clause per distinct value
  // (a `terms` of the policies sharing it), however many policies there are.
  const byTimeout = new Map<number, string[]>();
  const byRevision = new Map<number, string[]>();
  for (const [policyId, ctx] of contexts) {
    const timeoutMs = (ctx.inactivityTimeoutSeconds ?? 0) * 1000;
    if (timeoutMs > 0) byTimeout.set(timeoutMs, [...(byTimeout.get(timeoutMs) ?? []), policyId]);
    if (ctx.latestPolicyRevision !== undefined) byRevision.set(ctx.latestPolicyRevision, [...(byRevision.get(ctx.latestPolicyRevision) ?? []), policyId]);
  }
  const inactiveByTimeout = [...byTimeout].map(([timeoutMs, policyIds]) =>
    all({ terms: { policy_id: policyIds } }, { range: { last_checkin: { lt: new Date(now.getTime() - timeoutMs).toISOString() } } }),
  );
  const outdated = [...byRevision].map(([revision, policyIds]) => all({ terms: { policy_id: policyIds } }, { range: { policy_revision_idx: { lt: revision } } }));
  return [
    ['unenrolled', all({ bool: { must_not: active } }, exists('unenrolled_at'))],
    ['inactive', { bool: { must_not: active } }],
    ['uninstalled', term('audit_unenrolled_reason', 'uninstall')],
    ['orphaned', term('audit_unenrolled_reason', 'orphaned')],
    ['enrolling', missing('last_checkin')],
    ['inactive', any(inactiveByTimeout)],
    ['offline', { range: { last_checkin: { lt: new Date(now.getTime() - OFFLINE_AFTER_MS).toISOString() } } }],
    ['updating', all(exists('upgrade_started_at'), missing('upgraded_at'))],
    ['unenrolling', all(exists('unenrollment_started_at'), missing('unenrolled_at'))],
    ['error', term('last_checkin_status', 'error', true)],
    ['degraded', term('last_checkin_status', 'degraded', true)],
    ['updating', any([missing('policy_revision_idx'), ...outdated])],
    ['online', { match_all: {} }],
  ];
}

/**
 * One filter per status (for a `filters` aggregation): an agent matches its status's filter and
 * no other. A status reached by two conditions (inactive, updating) has one filter per condition,
 * keyed `<status>#<n>`; `statusOfKey` maps a key back.
 */
export function statusFilters(now: Date, contexts: Map<string, StatusContext>): Record<string, Query> {
  const out: Record<string, Query> = {};
  const earlier: Query[] = [];
  orderedConditions(now, contexts).forEach(([status, condition], i) => {
    out[`${status}#${i}`] = { bool: { filter: [condition], must_not: [...earlier] } };
    earlier.push(condition);
  });
  return out;
}

export const statusOfKey = (key: string): AgentStatus | undefined => {
  const status = key.split('#')[0];
  return (AGENT_STATUSES as readonly string[]).includes(status ?? '') ? (status as AgentStatus) : undefined;
};
