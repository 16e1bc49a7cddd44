import type { Client, estypes } from '@elastic/elasticsearch';
import type { ActionDoc, ActionResultDoc, AgentDoc, Hit, PolicyRevisionDoc } from '../documents';
import { MAX_ACTION_TARGETS, type BehindAgent, type RolloutCounts, type RolloutStore } from '../rollout-store';
import { policyRevisionDocId } from '../secrets';
import { statusOf } from './es-client';
import { ES_INDICES } from './es-indices';

const PAGE = 1_000;
/** Documents of one action read at most (the management API writes one per call). */
const MAX_ACTION_DOCS = 1_000;
const is404 = (err: unknown): boolean => statusOf(err) === 404 || statusOf((err as { cause?: unknown })?.cause) === 404;
/** A missing index reads as nothing (`fallback`); any other failure is the caller's. */
const unless404 = <T>(promise: Promise<T>, fallback: T): Promise<T> =>
  promise.catch((err: unknown) => {
    if (is404(err)) return fallback;
    throw err;
  });
const toHit = <T>(h: estypes.SearchHit<T>): Hit<T> => ({ _id: h._id ?? '', _seq_no: h._seq_no ?? -1, _source: h._source as T });

/** Longest silent first: never checked in (enrollment order), then by last checkin. */
const SILENT_FIRST: estypes.Sort = [
  { last_checkin: { order: 'asc', unmapped_type: 'date', missing: '_first' } },
  { enrolled_at: { order: 'asc', unmapped_type: 'date' } },
  { 'agent.id': { order: 'asc', unmapped_type: 'keyword' } },
];
const REPORTS_ERROR: estypes.QueryDslQueryContainer = { term: { last_checkin_status: { value: 'error', case_insensitive: true } } };

/**
 * Rollout progress on Elasticsearch: the policy counts are one aggregation; an action's counts come
 * from its results (bounded by its targets) and one count of the active agents that did not answer.
 * `agentsSearchable` makes this process's agent writes searchable first (a shared refresh).
 */
export function createEsRolloutStore(
  client: Client,
  guard: <T>(fn: () => Promise<T>) => Promise<T>,
  agentsSearchable: () => Promise<void>,
): RolloutStore {
  const agents = ES_INDICES.agents.alias;

  /** Every hit of a query in `_seq_no` order, page by page, at most `max`. */
  const scan = async <T>(index: string, query: estypes.QueryDslQueryContainer, source: string[], max: number): Promise<Hit<T>[]> => {
    const out: Hit<T>[] = [];
    let after: estypes.SortResults | undefined;
    while (out.length < max) {
      const res = await unless404(
        client.search<T>({
          index,
          query,
          _source: source,
          size: Math.min(PAGE, max - out.length),
          sort: [{ _seq_no: 'asc' }],
          ignore_unavailable: true,
          ...(after ? { search_after: after } : {}),
        }),
        undefined,
      );
      const hits = res?.hits.hits ?? [];
      out.push(...hits.map((h) => toHit<T>(h)));
      const last = hits[hits.length - 1];
      if (!last?.sort || hits.length < PAGE) break;
      after = last.sort;
    }
    return out;
  };

  const searchAgents = async (query: estypes.QueryDslQueryContainer, size: number): Promise<Hit<AgentDoc>[]> => {
    if (size <= 0) return [];
    const res = await unless404(
      client.search<AgentDoc>({ index: agents, query, sort: SILENT_FIRST, size, seq_no_primary_term: true, ignore_unavailable: true }),
      undefined,
    );
    return (res?.hits.hits ?? []).map((h) => toHit<AgentDoc>(h));
  };

  return {
    revision: (policyId, revision) =>
      guard(async () => {
        try {
          const res = await client.get<PolicyRevisionDoc>({ index: ES_INDICES.policies.alias, id: policyRevisionDocId(policyId, revision) });
          return res.found ? { _id: res._id, _seq_no: res._seq_no ?? -1, _source: res._source as PolicyRevisionDoc } : undefined;
        } catch (err) {
          if (is404(err)) return undefined;
          throw err;
        }
      }),

    policyProgress: ({ policyId, revision, behindLimit }) =>
      guard(async (): Promise<RolloutCounts> => {
        await agentsSearchable();
        const applied: estypes.QueryDslQueryContainer = { range: { policy_revision_idx: { gte: revision } } };
        const ofPolicy: estypes.QueryDslQueryContainer[] = [{ term: { active: true } }, { term: { policy_id: policyId } }];
        const res = await unless404(
          client.search({
            index: agents,
            size: 0,
            track_total_hits: true,
            query: { bool: { filter: ofPolicy } },
            aggs: {
              acknowledged: { filter: applied },
              failed: { filter: { bool: { filter: [REPORTS_ERROR], must_not: [applied] } } },
            },
            ignore_unavailable: true,
          }),
          undefined,
        );
        const total = res?.hits.total;
        const aggs = res?.aggregations as Record<string, estypes.AggregationsFilterAggregate> | undefined;
        const failedAgents = await searchAgents({ bool: { filter: [...ofPolicy, REPORTS_ERROR], must_not: [applied] } }, behindLimit);
        const pending = await searchAgents({ bool: { filter: ofPolicy, must_not: [applied, REPORTS_ERROR] } }, behindLimit - failedAgents.length);
        const behind: BehindAgent[] = [
          ...failedAgents.map((agent) => ({
            agent,
            failed: true,
            ...(agent._source.last_checkin_message ? { error: agent._source.last_checkin_message } : {}),
          })),
          ...pending.map((agent) => ({ agent, failed: false })),
        ];
        return {
          targeted: typeof total === 'number' ? total : (total?.value ?? 0),
          acknowledged: aggs?.acknowledged?.doc_count ?? 0,
          failed: aggs?.failed?.doc_count ?? 0,
          behind,
        };
      }),

    actionProgress: ({ actionId, behindLimit }) =>
      guard(async (): Promise<RolloutCounts> => {
        const docs = await scan<ActionDoc>(ES_INDICES.actions.alias, { term: { action_id: actionId } }, ['agents'], MAX_ACTION_DOCS);
        const targets = new Set<string>();
        for (const d of docs) {
          for (const id of d._source.agents ?? []) {
            if (targets.size >= MAX_ACTION_TARGETS) break;
            targets.add(id);
          }
        }
        if (!targets.size) return { targeted: 0, acknowledged: 0, failed: 0, behind: [] };
        const results = await scan<ActionResultDoc>(
          ES_INDICES.actionResults.alias,
          { term: { action_id: actionId } },
          ['agent_id', 'error'],
          targets.size,
        );
        const answered = new Map<string, string>();
        for (const r of results) if (targets.has(r._source.agent_id)) answered.set(r._source.agent_id, r._source.error ?? '');
        const failedIds = [...answered].filter(([, error]) => error !== '').map(([id]) => id);
        const unanswered = [...targets].filter((id) => !answered.has(id));
        await agentsSearchable();
        const waiting: estypes.QueryDslQueryContainer = { bool: { filter: [{ ids: { values: unanswered } }, { term: { active: true } }] } };
        const activeUnanswered = unanswered.length
          ? await unless404(
              client.count({ index: agents, query: waiting, ignore_unavailable: true }).then((r) => r.count),
              0,
            )
          : 0;
        const failedAgents = failedIds.length ? await searchAgents({ ids: { values: failedIds } }, Math.min(behindLimit, failedIds.length)) : [];
        const pending = unanswered.length ? await searchAgents(waiting, behindLimit - failedAgents.length) : [];
        const behind: BehindAgent[] = [
          ...failedAgents.map((agent) => ({ agent, failed: true, error: answered.get(agent._id) ?? '' })),
          ...pending.map((agent) => ({ agent, failed: false })),
        ];
        return {
          targeted: answered.size + activeUnanswered,
          acknowledged: answered.size - failedIds.length,
          failed: failedIds.length,
          behind,
        };
      }),
  };
}
