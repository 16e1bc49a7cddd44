import type { CheckinResponse, FleetAgentClient } from '@fleet/agent-protocol';
import type { OutputHealthDoc, SqliteFleetStore } from '@fleet/store';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { ackAll, enrollAgent, eventually, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

const POLICY = 'fleet-default-policy';
const ES_URL = (): string => process.env.FLEET_ES_URL ?? '';
const writer = (index: string) => ({ writer: { indices: [{ names: [index], privileges: ['auto_configure', 'create_doc'] }] } });

/** The test node as its superuser (Kibana's part): makes the key an operator would write into an output. */
function admin(): Record<string, string> {
  const password = readFileSync(process.env.FLEET_ES_PASSWORD_FILE ?? '', 'utf8').trim();
  return { authorization: `Basic ${Buffer.from(`${process.env.FLEET_ES_USERNAME ?? 'elastic'}:${password}`).toString('base64')}`, 'content-type': 'application/json' };
}

async function operatorKey(index: string): Promise<{ id: string; key: string }> {
  const res = await fetch(`${ES_URL()}/_security/api_key`, {
    method: 'POST',
    headers: admin(),
    body: JSON.stringify({ name: 'shared-output-key', role_descriptors: writer(index) }),
  });
  const body = (await res.json()) as { id: string; api_key: string };
  return { id: body.id, key: `${body.id}:${body.api_key}` };
}

/** Writes one document with a key as an agent would; the HTTP status. */
async function writeAs(apiKey: string, index: string): Promise<number> {
  const res = await fetch(`${ES_URL()}/${index}/_doc`, {
    method: 'POST',
    headers: { authorization: `ApiKey ${Buffer.from(apiKey).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ '@timestamp': new Date().toISOString(), message: 'from the agent' }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Who owns a key (`_security/api_key`, as the superuser). */
async function keyInfo(id: string): Promise<{ username: string; invalidated: boolean; name: string } | undefined> {
  const res = await fetch(`${ES_URL()}/_security/api_key?id=${encodeURIComponent(id)}`, { headers: admin() });
  if (res.status === 404) return undefined;
  const body = (await res.json()) as { api_keys: { username: string; invalidated: boolean; name: string }[] };
  return body.api_keys[0];
}

async function healthDocs(h: Harness, backend: Backend, output: string): Promise<OutputHealthDoc[]> {
  if (backend === 'sqlite') return (h.server.store as SqliteFleetStore).outputHealthOf(output);
  const res = await fetch(`${ES_URL()}/logs-fleet_server.output_health-default/_search?size=100&sort=@timestamp:desc`, { headers: admin() });
  if (res.status === 404) return [];
  const body = (await res.json()) as { hits: { hits: { _source: OutputHealthDoc }[] } };
  return body.hits.hits.map((hit) => hit._source).filter((d) => d.output === output);
}

type Outputs = Record<string, { api_key?: string; hosts?: string[] }>;
const outputsOf = (res: CheckinResponse): Outputs | undefined =>
  (res.actions?.find((a) => a.type === 'POLICY_CHANGE')?.data as { policy?: { outputs: Outputs } } | undefined)?.policy?.outputs;

/** Checks in (acking what came) until the delivered policy has the output. */
async function deliveredOutputs(agent: FleetAgentClient, output: string): Promise<Outputs> {
  for (let i = 0; i < 5; i++) {
    const res = await agent.checkin({ status: 'online', message: '' });
    await ackAll(agent, res);
    const outputs = outputsOf(res);
    if (outputs?.[output]) return outputs;
  }
  throw new Error(`no policy with output ${output} delivered`);
}

const BACKENDS: { backend: Backend; label: string; store: () => Record<string, unknown> }[] = [
  { backend: 'sqlite', label: 'the SQLite store', store: () => ({}) },
  // Built-in credentials on Elasticsearch (what a cluster without security gets): forced here on the
  // secured test node, as its superuser (the fleet-server service account may not use the built-in
  // credentials' index). The output key cluster is the same node, through the service token.
  {
    backend: 'elasticsearch',
    label: 'Elasticsearch with built-in credentials',
    store: () => ({
      elasticsearch: {
        credentials: 'builtin',
        serviceTokenFile: '',
        username: process.env.FLEET_ES_USERNAME ?? 'elastic',
        passwordFile: process.env.FLEET_ES_PASSWORD_FILE ?? '',
      },
    }),
  },
];

describe('Per-agent output keys with built-in credentials: the output key cluster, and the fallback', function () {
  this.timeout(180_000);

  for (const { backend, label, store } of BACKENDS) {
    describe(`with ${label}`, function () {
      let h: Harness;
      const agents: FleetAgentClient[] = [];
      after(async () => {
        for (const a of agents) a.close();
        await h?.stop();
      });

      it('When no output key cluster is configured, then saving says which outputs go out with their own credentials, and agents get those', async () => {
        h = await startHarness({ store: store() }, undefined, backend);
        expect(h.server.store.credentials.kind).to.equal('builtin');
        const shared = await operatorKey('logs-shared-default');
        const put = await request(h.url)
          .put(`/api/fleet/agent_policies/${POLICY}`)
          .set(h.admin)
          .send({
            outputs: {
              default: { type: 'elasticsearch', hosts: [ES_URL()], secrets: { api_key: shared.key } },
              open: { type: 'elasticsearch', hosts: ['http://127.0.0.1:9'] },
            },
            output_permissions: { default: writer('logs-shared-default'), open: writer('logs-open-default') },
          });
        expect(put.status, put.text).to.equal(200);
        expect(put.body.warnings.map((w: { output: string; code: string }) => [w.output, w.code])).to.deep.equal([
          ['default', 'configured_credentials'],
          ['open', 'no_credentials'],
        ]);
        expect(put.body.warnings[0].message).to.include('FLEET_OUTPUT_KEYS_HOSTS');
        expect(put.text, 'the configured key is a secret').to.not.include(shared.key);
        // A read says it too, and the save was logged with the output's name.
        const get = await request(h.url).get(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).expect(200);
        expect(get.body.warnings).to.deep.equal(put.body.warnings);
        expect(h.logs.some((l) => l.includes('"code":"configured_credentials"') && l.includes('"output":"default"'))).to.equal(true);

        const agent = await enrollAgent(h);
        agents.push(agent);
        const outputs = await deliveredOutputs(agent, 'default');
        expect(outputs.default?.api_key, 'the documented fallback: the credentials written in the output').to.equal(shared.key);
        expect(outputs.open).to.not.have.property('api_key');
        expect(await writeAs(shared.key, 'logs-shared-default')).to.equal(201);
        // The gateway said it once for the revision, whoever wrote it (Kibana writes no answer).
        await eventually(() => h.logs.filter((l) => l.includes('"component":"checkin-gateway"') && l.includes('"code":"no_credentials"')).length === 1);
      });

      it('When an output key cluster is configured, then an agent gets its own key there for the outputs that point at it, revoked when it is unenrolled', async () => {
        await h.restart({ store: { outputKeys: { hosts: [ES_URL()], serviceTokenFile: process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '' } } });
        const shared = await operatorKey('logs-shared-default');
        const put = await request(h.url)
          .put(`/api/fleet/agent_policies/${POLICY}`)
          .set(h.admin)
          .send({
            outputs: {
              default: { type: 'elasticsearch', hosts: [`${ES_URL()}/`], secrets: { api_key: shared.key } },
              elsewhere: { type: 'elasticsearch', hosts: ['http://127.0.0.1:9'], api_key: 'configured:elsewhere' },
            },
            output_permissions: { default: writer('logs-own-default'), elsewhere: writer('logs-elsewhere-default') },
          });
        expect(put.status, put.text).to.equal(200);
        expect(put.body.warnings.map((w: { output: string; code: string }) => [w.output, w.code])).to.deep.equal([['elsewhere', 'configured_credentials']]);
        expect(put.body.warnings[0].message).to.include('remote_elasticsearch');

        const agent = await enrollAgent(h);
        agents.push(agent);
        const outputs = await deliveredOutputs(agent, 'default');
        const own = outputs.default?.api_key ?? '';
        expect(own).to.match(/^[^:]+:[^:]+$/);
        expect(own).to.not.equal(shared.key);
        expect(outputs.elsewhere?.api_key).to.equal('configured:elsewhere');
        expect(await writeAs(own, 'logs-own-default'), 'the key writes where its permissions say').to.equal(201);
        expect(await writeAs(own, 'logs-shared-default'), 'and nowhere else').to.equal(403);
        const ownId = own.split(':')[0] ?? '';
        // The key list is searched: a key made a moment ago shows after a refresh.
        expect(await eventually(() => keyInfo(ownId))).to.include({ username: 'elastic/fleet-server', invalidated: false, name: `${agent.agentId}:default` });
        const doc = await h.server.store.agents.get(agent.agentId!);
        expect(doc?._source.outputs?.default).to.include({ api_key_id: ownId, type: 'elasticsearch' });

        // New permissions: the same key, with the new role.
        await request(h.url).put(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).send({ output_permissions: { default: writer('logs-other-default') } }).expect(200);
        const again = await deliveredOutputs(agent, 'default');
        expect(again.default?.api_key).to.equal(own);
        expect(await writeAs(own, 'logs-other-default')).to.equal(201);

        await request(h.url).post(`/api/fleet/agents/${agent.agentId}/unenroll`).set(h.admin).send({ revoke: true }).expect(200);
        await eventually(async () => (await keyInfo(ownId))?.invalidated === true);
        expect(await writeAs(own, 'logs-other-default')).to.equal(401);
        expect(await writeAs(shared.key, 'logs-shared-default'), "the operator's own key is not this server's to revoke").to.equal(201);
      });

      it('When an output leaves the policy, then its key on the output key cluster is revoked once the agent acks the revision without it', async () => {
        await request(h.url)
          .put(`/api/fleet/agent_policies/${POLICY}`)
          .set(h.admin)
          .send({ outputs: { default: { type: 'elasticsearch', hosts: [ES_URL()] } }, output_permissions: { default: writer('logs-own-default') } })
          .expect(200);
        const agent = await enrollAgent(h);
        agents.push(agent);
        const first = (await deliveredOutputs(agent, 'default')).default?.api_key ?? '';
        const firstId = first.split(':')[0] ?? '';
        expect(await writeAs(first, 'logs-own-default')).to.equal(201);
        await request(h.url)
          .put(`/api/fleet/agent_policies/${POLICY}`)
          .set(h.admin)
          .send({ outputs: { next: { type: 'elasticsearch', hosts: [ES_URL()] } }, output_permissions: { next: writer('logs-own-default') } })
          .expect(200);
        const next = (await deliveredOutputs(agent, 'next')).next?.api_key ?? '';
        expect(next).to.not.equal(first);
        await eventually(async () => (await keyInfo(firstId))?.invalidated === true);
        expect(await writeAs(next, 'logs-own-default')).to.equal(201);
      });

      it('When the output key cluster cannot be reached, then the policy still goes out, with the configured credentials, and the output is reported degraded', async () => {
        const down = 'http://127.0.0.1:9';
        await h.restart({ store: { outputKeys: { hosts: [down], serviceTokenFile: process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '' } } });
        const put = await request(h.url)
          .put(`/api/fleet/agent_policies/${POLICY}`)
          .set(h.admin)
          .send({ outputs: { unreachable: { type: 'elasticsearch', hosts: [down], api_key: 'configured:key' } }, output_permissions: { unreachable: writer('logs-own-default') } });
        expect(put.status, put.text).to.equal(200);
        expect(put.body).to.not.have.property('warnings');
        const agent = await enrollAgent(h);
        agents.push(agent);
        const outputs = await deliveredOutputs(agent, 'unreachable');
        expect(outputs.unreachable?.api_key).to.equal('configured:key');
        const health = await eventually(async () => {
          const docs = await healthDocs(h, backend, 'unreachable');
          return docs.length ? docs : undefined;
        });
        expect(health[0]).to.include({ output: 'unreachable', state: 'DEGRADED' });
        expect(health[0]?.message).to.include('output key cluster');
      });
    });
  }
});
