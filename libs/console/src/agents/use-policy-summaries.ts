import { useEffect, useMemo, useState } from 'react';
import { apiFetch } from '../api-client';
import type { AgentPolicySummary } from './agent-types';

/** At most this many policies are looked up at once (a page of agents names few). */
const MAX_LOOKUPS = 100;

/**
 * The policies with these ids (name, latest revision), each fetched once while the component
 * lives (`GET /agent_policies/:id`): the agents list shows names for the policies of its page
 * only, never a list of every policy. A policy that cannot be read is left out (the id is shown).
 */
export function usePolicySummaries(ids: readonly string[]): ReadonlyMap<string, AgentPolicySummary> {
  const [known, setKnown] = useState<ReadonlyMap<string, AgentPolicySummary | null>>(new Map());
  const wanted = [...new Set(ids)].filter((id) => id && !known.has(id)).slice(0, MAX_LOOKUPS);
  const key = wanted.sort().join('\n');

  useEffect(() => {
    if (!key) return;
    const batch = key.split('\n');
    const ctrl = new AbortController();
    void Promise.all(
      batch.map((id) =>
        apiFetch<{ item: AgentPolicySummary }>(`/api/fleet/agent_policies/${encodeURIComponent(id)}`, { signal: ctrl.signal })
          .then((r): [string, AgentPolicySummary | null] => [id, r.item])
          .catch((): [string, null] => [id, null]),
      ),
    ).then((found) => {
      if (ctrl.signal.aborted) return;
      setKnown((prev) => new Map([...prev, ...found]));
    });
    return () => ctrl.abort();
  }, [key]);

  return useMemo(() => {
    const out = new Map<string, AgentPolicySummary>();
    for (const [id, p] of known) if (p) out.set(id, p);
    return out;
  }, [known]);
}
