import type { CheckinResponse, FleetAgentClient } from '@fleet/agent-protocol';
import { ElasticsearchFleetStore, secretPlaceholder, type FleetStore } from '@fleet/store';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { SpanRecorder } from '../../../libs/telemetry/test/support/span-recorder';
import { enrollAgent, eventually, localMetadata, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

/** What Kibana's side does on Elasticsearch: write `.fleet-secrets` (here as the superuser, without the fleet module). */
function openAsKibana(): Promise<ElasticsearchFleetStore> {
  const url = process.env.FLEET_ES_URL;
  const passwordFile = process.env.FLEET_ES_PASSWORD_FILE;
  if (!url || !passwordFile) throw new Error('the Elasticsearch fixture did not run');
  return ElasticsearchFleetStore.open({ hosts: [url], username: process.env.FLEET_ES_USERNAME ?? 'elastic', password: readFileSync(passwordFile, 'utf8').trim() });
}

type Policy = {
  outputs: Record<string, Record<string, unknown>>;
  inputs: Record<string, unknown>[];
  secret_paths?: string[];
  secret_references?: unknown;
};

const policyOf = (res: CheckinResponse): Policy | undefined =>
  (res.actions?.find((a) => a.type === 'POLICY_CHANGE')?.data as { policy?: Policy } | undefined)?.policy;

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) {
  describe(`Policy secrets are resolved at delivery and shown nowhere else (${backend})`, function () {
    this.timeout(90_000);
    const outputCanary = `canary-ssl-key-${randomBytes(8).toString('hex')}`;
    const inputCanary = `canary-token-${randomBytes(8).toString('hex')}`;
    const MISSING = 'secret-that-was-deleted';
    let h: Harness;
    let spans: SpanRecorder;
    let writer: FleetStore;
    let kibana: ElasticsearchFleetStore | undefined;
    let outputSecret = '';
    let inputSecret = '';
    const agents: FleetAgentClient[] = [];
    /** Every management API answer of the run: status, headers and body, as sent. */
    const answers: string[] = [];
    const api = async (method: 'get' | 'put' | 'post', path: string, body?: object) => {
      const res = await request(h.url)[method](path).set(h.admin).send(body);
      answers.push(JSON.stringify({ status: res.status, headers: res.headers, body: res.text }));
      return res;
    };

    before(async () => {
      spans = SpanRecorder.start();
      h = await startHarness({}, undefined, backend);
      kibana = backend === 'elasticsearch' ? await openAsKibana() : undefined;
      // On SQLite the server's own store writes them (the management API's `secrets` input will).
      writer = kibana ?? h.server.store;
      outputSecret = await writer.secrets.create(outputCanary);
      inputSecret = await writer.secrets.create(inputCanary);
    });
    after(async () => {
      for (const a of agents) a.close();
      await kibana?.close();
      await h?.stop();
      await spans?.stop();
    });

    it('When a policy names secrets in an output (path form) and an input (inline), then agents get the values and secret_paths, read once for the revision', async () => {
      const resolutionsBefore = h.server.gateway.policies.secretResolutions;
      const put = await api('put', '/api/fleet/agent_policies/fleet-default-policy', {
        outputs: {
          default: { type: 'elasticsearch', hosts: ['http://127.0.0.1:9200'], ssl: { certificate: 'CERT' }, secrets: { ssl: { key: { id: outputSecret } } } },
        },
        inputs: [
          {
            id: 'httpjson-1',
            type: 'httpjson',
            api_key: secretPlaceholder(MISSING),
            streams: [{ id: 'httpjson-1-s1', 'request.headers': `Authorization: Bearer ${secretPlaceholder(inputSecret)}` }],
          },
        ],
      });
      expect(put.status, put.text).to.equal(200);
      for (let i = 0; i < 2; i++) {
        const agent = await enrollAgent(h);
        agents.push(agent);
        const res = await agent.checkin({ status: 'online', message: '', local_metadata: localMetadata(`secrets-${i}`), poll_timeout: '2s' });
        const policy = policyOf(res);
        expect(policy, JSON.stringify(res)).to.not.equal(undefined);
        expect(policy?.outputs.default).to.have.nested.property('ssl.key', outputCanary);
        expect(policy?.outputs.default).to.have.nested.property('ssl.certificate', 'CERT');
        expect(policy?.outputs.default).to.not.have.property('secrets');
        expect(policy?.inputs[0]?.streams).to.deep.equal([{ id: 'httpjson-1-s1', 'request.headers': `Authorization: Bearer ${inputCanary}` }]);
        // The missing secret: skipped, its placeholder left in place, as the reference does.
        expect(policy?.inputs[0]?.api_key).to.equal(secretPlaceholder(MISSING));
        expect(policy?.secret_paths).to.deep.equal(['inputs.0.streams.0.request.headers', 'outputs.default.ssl.key']);
        expect(policy).to.not.have.property('secret_references');
      }
      expect(h.server.gateway.policies.secretResolutions - resolutionsBefore).to.equal(1);
    });

    it('When a referenced secret does not exist, then a warning names its id and path, and nothing else of the policy', () => {
      const warnings = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['secret.id'] === MISSING);
      expect(warnings.length).to.be.greaterThan(0);
      for (const w of warnings) {
        expect(w).to.include({ level: 'warn', 'secret.path': 'inputs.0.api_key', 'fleet.policy.id': 'fleet-default-policy' });
        expect(w.msg).to.match(/policy secret not found/);
      }
    });

    it('When Kibana writes a revision itself (secret_references, both formats, fleet, agent.download, an OTel exporter), then the agent gets it resolved', async () => {
      const current = await api('get', '/api/fleet/agent_policies/fleet-default-policy');
      const revisionIdx = (current.body as { item: { revision: number } }).item.revision + 1;
      // As Kibana bulk-indexes .fleet-policies: the full agent policy, its references listed.
      await h.server.store.policies.create({
        '@timestamp': new Date().toISOString(),
        policy_id: 'fleet-default-policy',
        revision_idx: revisionIdx,
        coordinator_idx: 0,
        data: {
          id: 'fleet-default-policy',
          revision: revisionIdx,
          outputs: { default: { type: 'logstash', hosts: ['ls:5044'], secrets: { ssl: { key: { id: outputSecret } } } } },
          inputs: [{ id: 'otel-1', type: 'otelcol', streams: [{ id: 's', secrets: { password: { id: inputSecret } } }] }],
          agent: { download: { sourceURI: 'https://artifacts.example/', auth: { password: secretPlaceholder(inputSecret) } } },
          fleet: { hosts: ['https://fleet.example:8220'], secrets: { ssl: { key: { id: outputSecret } } } },
          exporters: { 'elasticsearch/default': { endpoints: ['https://es:9200'], headers: { Authorization: `ApiKey ${secretPlaceholder(inputSecret)}` } } },
          secret_references: [{ id: outputSecret }, { id: inputSecret }],
        },
      });
      // Found by the gateway's policy feed (nothing announces a write made outside the server).
      await eventually(() => h.server.gateway.policies.known('fleet-default-policy') === revisionIdx);
      const agent = await enrollAgent(h);
      agents.push(agent);
      const res = await agent.checkin({ status: 'online', message: '', local_metadata: localMetadata('kibana-shaped'), poll_timeout: '2s' });
      const action = res.actions?.find((a) => a.type === 'POLICY_CHANGE');
      expect(action?.id).to.equal(`policy:fleet-default-policy:${revisionIdx}`);
      const policy = policyOf(res) as Policy & Record<string, unknown>;
      expect(policy.outputs.default).to.deep.include({ ssl: { key: outputCanary } });
      expect(policy.inputs[0]?.streams).to.deep.equal([{ id: 's', password: inputCanary }]);
      expect(policy.agent).to.have.nested.property('download.auth.password', inputCanary);
      expect(policy.fleet).to.deep.equal({ hosts: ['https://fleet.example:8220'], ssl: { key: outputCanary } });
      expect(policy.exporters).to.have.nested.property('elasticsearch/default.headers.Authorization', `ApiKey ${inputCanary}`);
      expect(policy.secret_paths).to.deep.equal([
        'agent.download.auth.password',
        'exporters.elasticsearch/default.headers.Authorization',
        'fleet.ssl.key',
        'inputs.0.streams.0.password',
        'outputs.default.ssl.key',
      ]);
      expect(policy).to.not.have.property('secret_references');
    });

    it('When the management API reads the policy (one, list, full), then it shows the references only', async () => {
      const one = await api('get', '/api/fleet/agent_policies/fleet-default-policy');
      const full = await api('get', '/api/fleet/agent_policies/fleet-default-policy/full');
      const list = await api('get', '/api/fleet/agent_policies?perPage=100');
      for (const res of [one, full, list]) {
        expect(res.status).to.equal(200);
        expect(res.text).to.include(secretPlaceholder(inputSecret));
        expect(res.text).to.include(JSON.stringify({ key: { id: outputSecret } }));
      }
      await api('get', `/api/fleet/agents/${agents[0]?.agentId ?? ''}`);
      await api('get', '/api/fleet/agents?perPage=100');
    });

    it('When the run is over, then neither value is in any log line, span, metric or management API answer', async () => {
      const metricsUrl = h.server.metricsUrl;
      if (!metricsUrl) throw new Error('metrics are off');
      const metrics = await (await fetch(metricsUrl)).text();
      expect(metrics).to.include('fleet_');
      const logs = h.logs;
      expect(logs.length).to.be.greaterThan(20);
      const recorded = spans.spans.map((s) => SpanRecorder.text(s));
      expect(recorded.length).to.be.greaterThan(0);
      if (backend === 'elasticsearch') expect(recorded.some((s) => s.includes('db.system'))).to.equal(true);
      expect(answers.length).to.be.greaterThan(3);
      for (const canary of [outputCanary, inputCanary]) {
        expect(logs.filter((l) => l.includes(canary)), 'log lines').to.deep.equal([]);
        expect(recorded.filter((s) => s.includes(canary)), 'spans').to.deep.equal([]);
        expect(answers.filter((a) => a.includes(canary)), 'management API answers').to.deep.equal([]);
        expect(metrics.includes(canary), 'metrics').to.equal(false);
      }
    });
  });
}
