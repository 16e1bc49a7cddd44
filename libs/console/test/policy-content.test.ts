import { expect } from 'chai';
import { contentDocument, contentProblems, contentUpdate } from '../src/policy-content';

describe('console: policy content editor checks', () => {
  const output = { default: { type: 'elasticsearch', hosts: ['https://es:9200'] } };

  it('shows every content field, null where the policy has none', () => {
    expect(contentDocument({ outputs: output })).to.deep.equal({ outputs: output, output_permissions: null, agent: null, inputs: null });
  });

  it('accepts what the server accepts, null for fields the policy has not set', () => {
    const doc = { outputs: output, output_permissions: { default: {} }, agent: { logging: { level: 'debug' } }, inputs: [{ id: 'x', type: 'logfile' }] };
    expect(contentProblems(doc, {})).to.deep.equal([]);
    expect(contentProblems(contentDocument({}), {})).to.deep.equal([]);
  });

  it('names the field of each problem, as the server schema would refuse it', () => {
    const problems = contentProblems(
      { outputs: { default: { hosts: [] } }, output_permissions: { default: 1 }, agent: [], inputs: [{}, 'x'], name: 'y' },
      {},
    );
    expect(problems.map((p) => p.key)).to.deep.equal(['name', 'outputs', 'output_permissions', 'agent', 'inputs']);
    expect(problems[1]?.message).to.match(/Output "default" must be an object with a string "type"/);
    expect(problems[4]?.message).to.equal('Input 1 must be an object.');
  });

  it('refuses to null a field the policy has set (the API cannot unset it)', () => {
    const problems = contentProblems({ outputs: null, output_permissions: null, agent: null, inputs: null }, { outputs: output });
    expect(problems).to.have.length(1);
    expect(problems[0]?.key).to.equal('outputs');
  });

  it('refuses what is not an object at the top', () => {
    expect(contentProblems([], {})).to.have.length(1);
    expect(contentProblems(null, {})[0]?.key).to.equal(undefined);
  });

  it('sends the fields that have a value', () => {
    expect(contentUpdate({ outputs: output, output_permissions: null, agent: { a: 1 }, inputs: null })).to.deep.equal({ outputs: output, agent: { a: 1 } });
  });
});
