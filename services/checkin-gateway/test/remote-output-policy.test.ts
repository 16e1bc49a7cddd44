import { RemoteOutputs, SqliteFleetStore, type FullAgentPolicy } from '@fleet/store';
import { expect } from 'chai';
import { agentFacingOutput, agentFacingSecretPaths, elasticsearchOutputs } from '../src/output-keys';

describe('Remote Elasticsearch outputs in a policy', function () {
  const role = { writer: { indices: [{ names: ['logs-*'], privileges: ['create_doc'] }] } };
  const policy = (remote: Record<string, unknown>): FullAgentPolicy =>
    ({
      id: 'p',
      revision: 1,
      inputs: [],
      outputs: { local: { type: 'elasticsearch', hosts: ['http://a:9200'] }, far: { type: 'remote_elasticsearch', ...remote } },
      output_permissions: { local: role, far: role },
    });

  it('When a remote output has hosts and a resolved service token, then it gets keys on its cluster; without a token, none', () => {
    const outputs = elasticsearchOutputs(policy({ hosts: ['https://b:9200'], service_token: 'tok', ssl: { certificate_authorities: ['PEM'], verification_mode: 'full' } }));
    expect(outputs.map((o) => [o.name, Boolean(o.remote)])).to.deep.equal([
      ['local', false],
      ['far', true],
    ]);
    expect(outputs[1]?.remote).to.deep.equal({ name: 'far', hosts: ['https://b:9200'], serviceToken: 'tok', ssl: { certificateAuthorities: ['PEM'], verificationMode: 'full' } });
    expect(elasticsearchOutputs(policy({ hosts: ['https://b:9200'], service_token: '$co.elastic.secret{abc}' })).map((o) => o.name)).to.deep.equal(['local']);
    expect(elasticsearchOutputs(policy({ hosts: ['https://b:9200'] })).map((o) => o.name)).to.deep.equal(['local']);
  });

  it('When the policy is rendered for agents, then a remote output is an elasticsearch output without its token, also in secret_paths', () => {
    expect(agentFacingOutput({ type: 'remote_elasticsearch', hosts: ['h'], service_token: 'tok', preset: 'balanced' })).to.deep.equal({ type: 'elasticsearch', hosts: ['h'], preset: 'balanced' });
    expect(agentFacingOutput({ type: 'elasticsearch', hosts: ['h'], api_key: 'k' })).to.deep.equal({ type: 'elasticsearch', hosts: ['h'], api_key: 'k' });
    const outputs = { far: { type: 'remote_elasticsearch' }, near: { type: 'elasticsearch' } };
    expect(agentFacingSecretPaths(['outputs.far.service_token', 'outputs.near.ssl.key', 'inputs.0.api_key'], outputs)).to.deep.equal(['outputs.near.ssl.key', 'inputs.0.api_key']);
  });

  it('When an output is reported many times, then a health document is written once per state change', async () => {
    const store = new SqliteFleetStore({ path: ':memory:' });
    const outputs = new RemoteOutputs({ health: store.outputHealth });
    try {
      expect(await outputs.report('far', 'HEALTHY', '')).to.equal(true);
      expect(await outputs.report('far', 'HEALTHY', '')).to.equal(false);
      expect(await outputs.report('far', 'DEGRADED', 'down')).to.equal(true);
      expect(await outputs.report('far', 'DEGRADED', 'down')).to.equal(false);
      expect(await outputs.report('far', 'DEGRADED', 'refused')).to.equal(true);
      expect(await outputs.report('far', 'HEALTHY', '')).to.equal(true);
      expect(store.outputHealthOf('far').map((d) => [d.state, d.message])).to.deep.equal([
        ['HEALTHY', ''],
        ['DEGRADED', 'refused'],
        ['DEGRADED', 'down'],
        ['HEALTHY', ''],
      ]);
    } finally {
      await outputs.close();
      await store.close();
    }
  });

  it('When more output configurations are used than the bound, then the least recently used clients are closed', async () => {
    const store = new SqliteFleetStore({ path: ':memory:' });
    const outputs = new RemoteOutputs({ health: store.outputHealth, maxClients: 2 });
    try {
      for (const host of ['http://a:1', 'http://b:1', 'http://c:1']) outputs.credentials({ name: host, hosts: [host], serviceToken: 't' });
      expect(outputs.size()).to.equal(2);
    } finally {
      await outputs.close();
      await store.close();
    }
  });
});
