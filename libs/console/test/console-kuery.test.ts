import { expect } from 'chai';
import { parseAgentKuery } from '@fleet/policy-dispatcher';
import { agentsOfPolicyPath, kueryEquals } from '../src/fleet-types';

describe('console: the kuery clauses it sends', () => {
  it('When the console filters on a policy id, then the server parses back that id, quotes and backslashes included', () => {
    for (const id of ['fleet-default-policy', 'a"b', 'c\\d', 'x or y', 'p:1 and status:online']) {
      expect(parseAgentKuery(kueryEquals('policy_id', id)).policyIds).to.deep.equal([id]);
    }
  });

  it('When the policy page links to its agents, then the link carries the clause in the query string', () => {
    const url = new URL(agentsOfPolicyPath('a"b'), 'http://console');
    expect(url.pathname).to.equal('/agents');
    expect(parseAgentKuery(url.searchParams.get('kuery') ?? '').policyIds).to.deep.equal(['a"b']);
  });
});
