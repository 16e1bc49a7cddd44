import type { AgentDoc, Hit } from './documents';
import type { AgentSort, AgentSortField } from './store-port';

/** The agent list's order when none is asked for: newest enrollment first (as Kibana). */
export const DEFAULT_AGENT_SORT: AgentSort = { field: 'enrolled_at', order: 'desc' };

const DATE_FIELDS: ReadonlySet<AgentSortField> = new Set(['enrolled_at', 'last_checkin']);

/** The value an agent sorts by: epoch milliseconds for dates, the string for keywords; undefined when missing. */
export function agentSortValue(doc: AgentDoc, field: AgentSortField): string | number | undefined {
  let value: unknown = doc;
  for (const part of field.split('.')) {
    value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  }
  if (typeof value !== 'string' || value === '') return undefined;
  if (!DATE_FIELDS.has(field)) return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Compares agents the way both backends sort them: by the field (missing values last in both
 * orders, as Elasticsearch's default `missing: _last`), then by id ascending. Used where a backend
 * must order in memory (the status-filtered listing).
 */
export function compareAgents(sort: AgentSort): (a: Hit<AgentDoc>, b: Hit<AgentDoc>) => number {
  const dir = sort.order === 'asc' ? 1 : -1;
  return (a, b) => {
    const va = agentSortValue(a._source, sort.field);
    const vb = agentSortValue(b._source, sort.field);
    if (va !== vb) {
      if (va === undefined) return 1;
      if (vb === undefined) return -1;
      return (va < vb ? -1 : 1) * dir;
    }
    return a._id < b._id ? -1 : a._id > b._id ? 1 : 0;
  };
}
