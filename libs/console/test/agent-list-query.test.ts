import { parseAgentKuery } from '@fleet/policy-dispatcher';
import { expect } from 'chai';
import {
  agentListQuery,
  bulkKuery,
  combinedKuery,
  DEFAULT_LIST_STATE,
  listStateParams,
  parseListState,
  type AgentListState,
} from '../src/agents/agent-list-query';

/**
 * The agents page keeps its view in the URL and sends the server one kuery built from the search
 * box and the filters. These tests read that kuery with the server's own parser, so a filter the
 * console builds is one the API accepts and means what the page shows.
 */
describe('Console agents list: URL state and the kuery sent to GET /agents', function () {
  const state = (patch: Partial<AgentListState>): AgentListState => ({ ...DEFAULT_LIST_STATE, ...patch });

  it('When a view is written to the URL and read back, then it is the same view; defaults are left out', () => {
    const view = state({
      kuery: 'policy_id:p1',
      statuses: ['error', 'online'],
      tags: ['prod', 'eu west'],
      showInactive: true,
      page: 3,
      perPage: 50,
      sortField: 'local_metadata.host.hostname',
      sortOrder: 'asc',
    });
    const params = listStateParams(view);
    // Statuses in one canonical order: one filter, one URL.
    expect(params.toString()).to.equal(
      'kuery=policy_id%3Ap1&status=online&status=error&tag=prod&tag=eu+west&showInactive=true&page=3&perPage=50&sortField=local_metadata.host.hostname&sortOrder=asc',
    );
    expect(parseListState(new URLSearchParams(params.toString()))).to.deep.equal({ ...view, statuses: ['online', 'error'] });
    expect(listStateParams(DEFAULT_LIST_STATE).toString()).to.equal('');
  });

  it('When the URL holds values the API would refuse, then the page falls back to its defaults for them', () => {
    const parsed = parseListState(new URLSearchParams('status=bogus&status=offline&perPage=7&page=-2&sortField=agent.id&sortOrder=up&showInactive=yes'));
    expect(parsed).to.deep.equal(state({ statuses: ['offline'] }));
  });

  it('When the search, statuses and tags are combined, then the server reads each filter, quoted tags intact', () => {
    const kuery = combinedKuery(state({ kuery: 'policy_id:p1', statuses: ['online', 'error'], tags: ['eu west', 'a"b\\c'] }));
    expect(kuery).to.equal('(policy_id:p1) and status:(online or error) and tags:("eu west" or "a\\"b\\\\c")');
    expect(parseAgentKuery(kuery)).to.deep.equal({ policyIds: ['p1'], statuses: ['online', 'error'], tags: ['eu west', 'a"b\\c'] });
  });

  it('When the search has an "or" of its own, then the filters apply to all of it (it is parenthesized)', () => {
    const kuery = combinedKuery(state({ kuery: 'status:online or status:offline', tags: ['x'] }));
    // Unwrapped, "status:online or status:offline and tags:x" would be an or across fields: a 400.
    expect(parseAgentKuery(kuery)).to.deep.equal({ statuses: ['online', 'offline'], tags: ['x'] });
  });

  it('When a status filter picks inactive or unenrolled agents, then the list asks for inactive agents too', () => {
    expect(agentListQuery(state({ statuses: ['online'] })).showInactive).to.equal(undefined);
    expect(agentListQuery(state({ statuses: ['unenrolled'] }))).to.deep.include({ showInactive: 'true', kuery: 'status:(unenrolled)' });
    expect(agentListQuery(state({}))).to.deep.equal({ page: 1, perPage: 20, sortField: 'enrolled_at', sortOrder: 'desc', showInactive: undefined, kuery: undefined });
  });

  it('When everything on all pages is selected, then the bulk kuery matches exactly the agents the list shows', () => {
    const active = parseAgentKuery(bulkKuery(state({})));
    expect(active.statuses).to.have.length(9).and.not.include.members(['inactive', 'unenrolled']);
    expect(parseAgentKuery(bulkKuery(state({ showInactive: true }))).statuses).to.have.length(11);
    expect(parseAgentKuery(bulkKuery(state({ kuery: 'policy_id:p2', statuses: ['error'], tags: ['t'] })))).to.deep.equal({
      policyIds: ['p2'],
      statuses: ['error'],
      tags: ['t'],
    });
  });
});
