import { expect } from 'chai';
import { referencedSecretIds, resolvePolicySecrets, secretPlaceholder, type FullAgentPolicy } from '@fleet/store';

const ref = secretPlaceholder;

/** A policy as Kibana writes it with secrets in an output, an input, a stream, agent.download, fleet and an OTel exporter. */
function kibanaPolicy(): FullAgentPolicy {
  return {
    id: 'p1',
    revision: 3,
    outputs: {
      default: { type: 'elasticsearch', hosts: ['https://es:9200'], secrets: { ssl: { key: { id: 'out-ssl-key' } } } },
      kafka: { type: 'kafka', password: ref('kafka-pw'), hosts: ['k:9092'] },
    },
    inputs: [
      {
        id: 'http-1',
        type: 'httpjson',
        'request.url': `https://api.example/?token=${ref('tok')}&x=${ref('tok2')}`,
        streams: [
          { id: 's0', data_stream: { dataset: 'a' } },
          { id: 's1', secrets: { password: { id: 'stream-pw' } }, nested: { list: ['plain', ref('in-list')] } },
        ],
      },
    ],
    agent: { download: { sourceURI: 'https://dl', auth: { password: ref('dl-pw') } }, monitoring: { api_key: ref('not-a-covered-section') } },
    fleet: { hosts: ['https://fleet:8220'], secrets: { ssl: { key: { id: 'fleet-ssl-key' } } } },
    exporters: { 'elasticsearch/default': { endpoints: ['https://es:9200'], api_key: ref('otel-key') } },
    secret_references: [
      { id: 'out-ssl-key' },
      { id: 'kafka-pw' },
      { id: 'tok' },
      { id: 'tok2' },
      { id: 'stream-pw' },
      { id: 'in-list' },
      { id: 'dl-pw' },
      { id: 'fleet-ssl-key' },
      { id: 'otel-key' },
    ],
  };
}

const allValues = (): Map<string, string> =>
  new Map([
    ['out-ssl-key', 'PEM-KEY'],
    ['kafka-pw', 'kafka-secret'],
    ['tok', 'T1'],
    ['tok2', 'T2'],
    ['stream-pw', 'stream-secret'],
    ['in-list', 'listed'],
    ['dl-pw', 'dl-secret'],
    ['fleet-ssl-key', 'FLEET-PEM'],
    ['otel-key', 'b64key'],
    ['not-a-covered-section', 'never-used'],
  ]);

describe('policy secrets (references resolved as elastic/fleet-server does)', function () {
  it('When a policy carries both formats in every covered section, then every value is in place, secret_paths is sorted and unique, and secret_references is gone', () => {
    const source = kibanaPolicy();
    const before = JSON.stringify(source);
    const { policy, secretPaths, missing } = resolvePolicySecrets(source, allValues());
    expect(JSON.stringify(source), 'the input is not changed').to.equal(before);
    expect(missing).to.deep.equal([]);
    expect(policy).to.not.have.property('secret_references');
    expect(policy.outputs.default).to.deep.equal({ type: 'elasticsearch', hosts: ['https://es:9200'], ssl: { key: 'PEM-KEY' } });
    expect(policy.outputs.kafka).to.have.property('password', 'kafka-secret');
    const input = policy.inputs[0] as Record<string, unknown>;
    expect(input['request.url']).to.equal('https://api.example/?token=T1&x=T2');
    expect(input.streams).to.deep.equal([
      { id: 's0', data_stream: { dataset: 'a' } },
      { id: 's1', password: 'stream-secret', nested: { list: ['plain', 'listed'] } },
    ]);
    expect(policy.agent).to.deep.equal({ download: { sourceURI: 'https://dl', auth: { password: 'dl-secret' } }, monitoring: { api_key: ref('not-a-covered-section') } });
    expect(policy.fleet).to.deep.equal({ hosts: ['https://fleet:8220'], ssl: { key: 'FLEET-PEM' } });
    expect(policy.exporters).to.deep.equal({ 'elasticsearch/default': { endpoints: ['https://es:9200'], api_key: 'b64key' } });
    expect(secretPaths).to.deep.equal([
      'agent.download.auth.password',
      'exporters.elasticsearch/default.api_key',
      'fleet.ssl.key',
      'inputs.0.request.url',
      'inputs.0.streams.1.nested.list.1',
      'inputs.0.streams.1.password',
      'outputs.default.ssl.key',
      'outputs.kafka.password',
    ]);
  });

  it('When ids are listed, inline, or in the path form only, then referencedSecretIds names each once (sections outside the reference\'s are not read)', () => {
    const policy = kibanaPolicy();
    policy.secret_references = [{ id: 'tok' }, { id: 'only-listed' }];
    expect(referencedSecretIds(policy)).to.deep.equal(
      ['dl-pw', 'fleet-ssl-key', 'in-list', 'kafka-pw', 'only-listed', 'otel-key', 'out-ssl-key', 'stream-pw', 'tok', 'tok2'].sort(),
    );
    expect(referencedSecretIds({ id: 'x', revision: 1, outputs: {}, inputs: [] })).to.deep.equal([]);
  });

  it('When a secret is missing, then its reference is left in place (both formats), reported with its path, and not in secret_paths', () => {
    const values = allValues();
    values.delete('tok2');
    values.delete('stream-pw');
    values.delete('out-ssl-key');
    const { policy, secretPaths, missing } = resolvePolicySecrets(kibanaPolicy(), values);
    const input = policy.inputs[0] as { 'request.url': string; streams: Record<string, unknown>[] };
    expect(input['request.url']).to.equal(`https://api.example/?token=T1&x=${ref('tok2')}`);
    expect(input.streams[1]).to.deep.equal({ id: 's1', secrets: { password: { id: 'stream-pw' } }, nested: { list: ['plain', 'listed'] } });
    expect(policy.outputs.default).to.deep.equal({ type: 'elasticsearch', hosts: ['https://es:9200'], secrets: { ssl: { key: { id: 'out-ssl-key' } } } });
    expect(missing).to.deep.equal([
      { id: 'out-ssl-key', path: 'outputs.default.ssl.key' },
      { id: 'tok2', path: 'inputs.0.request.url' },
      { id: 'stream-pw', path: 'inputs.0.streams.1.password' },
    ]);
    // A string with one found and one missing reference is listed: a value was placed in it.
    expect(secretPaths).to.include('inputs.0.request.url');
    expect(secretPaths).to.not.include('outputs.default.ssl.key');
    expect(secretPaths).to.not.include('inputs.0.streams.1.password');
    expect(policy).to.not.have.property('secret_references');
  });

  it('When a value looks like a placeholder or holds $-patterns, then it is delivered as it is, never expanded again', () => {
    const policy: FullAgentPolicy = {
      id: 'p',
      revision: 1,
      outputs: { o: { type: 'logstash', secrets: { password: { id: 'b' } }, user: ref('a') } },
      inputs: [],
    };
    const { policy: out } = resolvePolicySecrets(policy, new Map([['a', `$& $1 ${ref('b')}`], ['b', ref('a')]]));
    expect(out.outputs.o).to.deep.equal({ type: 'logstash', user: `$& $1 ${ref('b')}`, password: ref('a') });
  });

  it('When a secrets entry is not a reference (no id), then it is kept, and the references beside it are still resolved', () => {
    const policy: FullAgentPolicy = {
      id: 'p',
      revision: 1,
      outputs: { o: { type: 'kafka', secrets: { password: { id: 'k' }, note: 'kept', ssl: { key: { id: 'sk' }, extra: { x: 1 } } } } },
      inputs: [],
    };
    const { policy: out, secretPaths } = resolvePolicySecrets(policy, new Map([['k', 'pw'], ['sk', 'key']]));
    expect(out.outputs.o).to.deep.equal({ type: 'kafka', password: 'pw', ssl: { key: 'key' }, secrets: { note: 'kept', ssl: { extra: { x: 1 } } } });
    expect(secretPaths).to.deep.equal(['outputs.o.password', 'outputs.o.ssl.key']);
  });
});
