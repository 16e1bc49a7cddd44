import { AGENT_STATUSES, INACTIVE_STATUSES, isAgentStatus, type AgentStatus } from './agent-types';

/** The columns `GET /agents` sorts on (server-side). */
export const SORT_FIELDS = [
  'enrolled_at',
  'last_checkin',
  'local_metadata.host.hostname',
  'local_metadata.elastic.agent.version',
  'policy_id',
] as const;
export type SortField = (typeof SORT_FIELDS)[number];
export const PAGE_SIZES = [10, 20, 50, 100] as const;

/** Everything the agents list shows, as it is kept in the page's URL (so every view is a deep link). */
export interface AgentListState {
  /** What the user typed in the search box (the API's kuery subset). */
  kuery: string;
  statuses: AgentStatus[];
  tags: string[];
  showInactive: boolean;
  page: number;
  perPage: number;
  sortField: SortField;
  sortOrder: 'asc' | 'desc';
}

export const DEFAULT_LIST_STATE: AgentListState = {
  kuery: '',
  statuses: [],
  tags: [],
  showInactive: false,
  page: 1,
  perPage: 20,
  sortField: 'enrolled_at',
  sortOrder: 'desc',
};

const MAX_TAGS = 100;
const MAX_TAG_LENGTH = 256;

/** Reads the list state from the query string; anything malformed falls back to the default. */
export function parseListState(params: URLSearchParams): AgentListState {
  const int = (name: string, fallback: number) => {
    const n = Number(params.get(name));
    return Number.isInteger(n) && n >= 1 ? n : fallback;
  };
  const perPage = int('perPage', DEFAULT_LIST_STATE.perPage);
  const sortField = params.get('sortField');
  const sortOrder = params.get('sortOrder');
  return {
    kuery: (params.get('kuery') ?? '').slice(0, 2048),
    statuses: [...new Set(params.getAll('status').filter(isAgentStatus))],
    tags: [...new Set(params.getAll('tag').filter((t) => t.length > 0 && t.length <= MAX_TAG_LENGTH))].slice(0, MAX_TAGS),
    showInactive: params.get('showInactive') === 'true',
    page: Math.min(int('page', 1), 10_000),
    perPage: (PAGE_SIZES as readonly number[]).includes(perPage) ? perPage : DEFAULT_LIST_STATE.perPage,
    sortField: (SORT_FIELDS as readonly string[]).includes(sortField ?? '') ? (sortField as SortField) : DEFAULT_LIST_STATE.sortField,
    sortOrder: sortOrder === 'asc' || sortOrder === 'desc' ? sortOrder : DEFAULT_LIST_STATE.sortOrder,
  };
}

/** The query string of a list state; defaults are left out so links stay short. */
export function listStateParams(state: AgentListState): URLSearchParams {
  const params = new URLSearchParams();
  if (state.kuery) params.set('kuery', state.kuery);
  // In AGENT_STATUSES order, so one filter has one URL.
  for (const s of AGENT_STATUSES) if (state.statuses.includes(s)) params.append('status', s);
  for (const t of state.tags) params.append('tag', t);
  if (state.showInactive) params.set('showInactive', 'true');
  if (state.page !== 1) params.set('page', String(state.page));
  if (state.perPage !== DEFAULT_LIST_STATE.perPage) params.set('perPage', String(state.perPage));
  if (state.sortField !== DEFAULT_LIST_STATE.sortField) params.set('sortField', state.sortField);
  if (state.sortOrder !== DEFAULT_LIST_STATE.sortOrder) params.set('sortOrder', state.sortOrder);
  return params;
}

/** A kuery value in double quotes, `\` and `"` escaped (the server's parser reads them back). */
export const quoteKueryValue = (value: string): string => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/**
 * The kuery `GET /agents` gets: the user's search, and the status and tag filters, joined by `and`
 * (`(policy_id:p1) and status:(online or error) and tags:("a" or "b")`). Built from structured
 * parts; the user's own text is passed through in parentheses, never spliced into a value.
 */
export function combinedKuery(state: Pick<AgentListState, 'kuery' | 'statuses' | 'tags'>): string {
  const parts: string[] = [];
  const own = state.kuery.trim();
  if (state.statuses.length) parts.push(`status:(${state.statuses.join(' or ')})`);
  if (state.tags.length) parts.push(`tags:(${state.tags.map(quoteKueryValue).join(' or ')})`);
  if (!own) return parts.join(' and ');
  return parts.length ? [`(${own})`, ...parts].join(' and ') : own;
}

/** Inactive and unenrolled agents are listed only with showInactive, which a filter on them implies. */
export const listsInactive = (state: Pick<AgentListState, 'showInactive' | 'statuses'>): boolean =>
  state.showInactive || state.statuses.some((s) => INACTIVE_STATUSES.includes(s));

/** The query of `GET /api/fleet/agents` for a list state. */
export function agentListQuery(state: AgentListState): Record<string, string | number | undefined> {
  const kuery = combinedKuery(state);
  return {
    page: state.page,
    perPage: state.perPage,
    sortField: state.sortField,
    sortOrder: state.sortOrder,
    showInactive: listsInactive(state) ? 'true' : undefined,
    kuery: kuery || undefined,
  };
}

/**
 * The kuery for "every agent the list matches" in a bulk call. A bulk call takes no showInactive,
 * so without a status filter the statuses the list shows are named (and a list without any filter
 * still has a kuery: bulk calls refuse an empty one).
 */
export function bulkKuery(state: AgentListState): string {
  const statuses = state.statuses.length
    ? state.statuses
    : AGENT_STATUSES.filter((s) => listsInactive(state) || !INACTIVE_STATUSES.includes(s));
  return combinedKuery({ ...state, statuses });
}
