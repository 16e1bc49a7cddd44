import Database from 'better-sqlite3';
import type { CheckinResponse, FleetAgentClient } from '@fleet/agent-protocol';
import { MAX_POLICY_SECRETS, MAX_SECRET_INPUT_BYTES } from '@fleet/management-api';
import { secretPlaceholder } from '@fleet/store';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { localMetadata, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

type Policy = {
  outputs: Record<string, Record<string, unknown>>;
  inputs: Record<string, unknown>[];
  secret_paths?: string[];
  secret_references?: unknown;
};
type Item = Policy & { id: string; revision: number; secret_references?: { id: string }[] };

const policyOf = (res: CheckinResponse): Policy | undefined =>
  (res.actions?.find((a) => a.type === 'POLICY_CHANGE')?.data as { policy?: Policy } | undefined)?.policy;

/** On Elasticsearch, the server runs as a user that may write `.fleet-secrets` (the service account may not). */
function writerOverrides(backend: Backend): Record<string, unknown> {
  if (backend === 'sqlite') return {};
  const passwordFile = process.env.FLEET_ES_PASSWORD_FILE;
  if (!passwordFile) throw new Error('the Elasticsearch fixture did not run');
  return { store: { elasticsearch: { serviceTokenFile: '', username: process.env.FLEET_ES_USERNAME ?? 'elastic', passwordFile } } };
}

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) {
  describe(`The management API stores secret values given in secrets fields (${backend})`, function () {
    this.timeout(90_000);
    const tag = randomBytes(8).toString('hex');
    const outputCanary = `canary-out-${tag}`;
    const inputCanary = `canary-in-${tag}`;
    const streamCanary = `canary-stream-${tag}`;
    const canaries = [outputCanary, inputCanary, streamCanary];
    let h: Harness;
    let agent: FleetAgentClient | undefined;
    let created: Item;
    const answers: string[] = [];
    const api = async (method: 'get' | 'put' | 'post', path: string, body?: object) => {
      const res = await request(h.url)[method](path).set(h.admin).send(body);
      answers.push(JSON.stringify({ status: res.status, headers: res.headers, body: res.text }));
      return res;
    };
    const body = {
      id: `secrets-input-${tag}`,
      name: `secrets input ${tag}`,
      outputs: {
        default: { type: 'elasticsearch', hosts: ['http://127.0.0.1:9200'], ssl: { certificate: 'CERT' }, secrets: { ssl: { key: outputCanary } } },
      },
      inputs: [
        {
          id: 'httpjson-1',
          type: 'httpjson',
          secrets: { api_key: inputCanary },
          streams: [{ id: 'httpjson-1-s1', secrets: { auth: { basic: { password: streamCanary } } } }],
        },
      ],
    };

    before(async () => {
      h = await startHarness(writerOverrides(backend), undefined, backend);
    });
    after(async () => {
      agent?.close();
      await h?.stop();
    });

    it('When a policy is created with output, input and stream secrets, then it keeps references only, in Kibana\'s shapes', async () => {
      const res = await api('post', '/api/fleet/agent_policies', body);
      expect(res.status, res.text).to.equal(200);
      created = (res.body as { item: Item }).item;
      const output = created.outputs.default as { secrets: { ssl: { key: { id: string } } }; ssl: unknown };
      const outputId = output.secrets.ssl.key.id;
      expect(outputId).to.be.a('string').and.not.equal('');
      expect(output.ssl).to.deep.equal({ certificate: 'CERT' });
      const input = created.inputs[0] as { api_key: string; secrets?: unknown; streams: { auth: { basic: { password: string } }; secrets?: unknown }[] };
      expect(input.api_key).to.match(/^\$co\.elastic\.secret\{[^}]+\}$/);
      expect(input).to.not.have.property('secrets');
      expect(input.streams[0]?.auth.basic.password).to.match(/^\$co\.elastic\.secret\{[^}]+\}$/);
      expect(input.streams[0]).to.not.have.property('secrets');
      const ids = [outputId, input.api_key.slice(19, -1), (input.streams[0]?.auth.basic.password ?? '').slice(19, -1)];
      expect(secretPlaceholder(ids[1] ?? '')).to.equal(input.api_key);
      expect(new Set(ids).size).to.equal(3);
      expect(created.secret_references).to.deep.equal([...ids].sort().map((id) => ({ id })));
      // The values are in the store under those ids.
      const stored = await h.server.store.secrets.get(ids);
      expect(ids.map((id) => stored.get(id))).to.deep.equal([outputCanary, inputCanary, streamCanary]);
    });

    it('When the policy is read (one, list, full, revisions), then every answer shows references and secret_references only', async () => {
      const id = created.id;
      const reads = [
        await api('get', `/api/fleet/agent_policies/${id}`),
        await api('get', '/api/fleet/agent_policies?perPage=100'),
        await api('get', `/api/fleet/agent_policies/${id}/full`),
        await api('get', `/api/fleet/agent_policies/${id}/revisions/1`),
      ];
      const revisions = await api('get', `/api/fleet/agent_policies/${id}/revisions`);
      expect(revisions.status).to.equal(200);
      for (const res of reads) {
        expect(res.status, res.text).to.equal(200);
        expect(res.text).to.include(JSON.stringify({ key: { id: (created.outputs.default as { secrets: { ssl: { key: { id: string } } } }).secrets.ssl.key.id } }));
        expect(res.text).to.include(created.inputs[0]?.api_key);
        for (const canary of canaries) expect(res.text).to.not.include(canary);
      }
      const full = (reads[2]?.body as { item: Policy }).item;
      expect(full.secret_references).to.deep.equal(created.secret_references);
    });

    it('When an agent of the policy checks in, then it gets the values at their fields and the right secret_paths', async () => {
      const key = await api('post', '/api/fleet/enrollment_api_keys', { policy_id: created.id });
      expect(key.status, key.text).to.equal(200);
      agent = h.agent();
      await agent.enroll((key.body as { item: { api_key: string } }).item.api_key, { type: 'PERMANENT', metadata: { local: localMetadata(), user_provided: {}, tags: [] } });
      const res = await agent.checkin({ status: 'online', message: '', local_metadata: localMetadata('secrets-input'), poll_timeout: '2s' });
      const policy = policyOf(res);
      expect(policy, JSON.stringify(res.actions?.map((a) => a.type))).to.not.equal(undefined);
      expect(policy?.outputs.default).to.deep.include({ ssl: { certificate: 'CERT', key: outputCanary } });
      expect(policy?.outputs.default).to.not.have.property('secrets');
      expect(policy?.inputs[0]).to.deep.equal({
        id: 'httpjson-1',
        type: 'httpjson',
        api_key: inputCanary,
        streams: [{ id: 'httpjson-1-s1', auth: { basic: { password: streamCanary } } }],
      });
      expect(policy?.secret_paths).to.deep.equal(['inputs.0.api_key', 'inputs.0.streams.0.auth.basic.password', 'outputs.default.ssl.key']);
      expect(policy).to.not.have.property('secret_references');
    });

    it('When a read is PUT back (and a new value added), then the references are kept and only the new value is stored', async () => {
      const read = (await api('get', `/api/fleet/agent_policies/${created.id}`)).body as { item: Item };
      const rotated = `canary-new-${tag}`;
      canaries.push(rotated);
      const input = { ...(read.item.inputs[0] as Record<string, unknown>), secrets: { token: rotated } };
      const put = await api('put', `/api/fleet/agent_policies/${created.id}`, { outputs: read.item.outputs, inputs: [input] });
      expect(put.status, put.text).to.equal(200);
      const after = (put.body as { item: Item }).item;
      expect(after.revision).to.equal(read.item.revision + 1);
      expect(after.outputs).to.deep.equal(read.item.outputs);
      const token = (after.inputs[0] as { token: string }).token;
      expect(token).to.match(/^\$co\.elastic\.secret\{[^}]+\}$/);
      const newId = token.slice(19, -1);
      const before = (read.item.secret_references ?? []).map((r) => r.id);
      expect(after.secret_references?.map((r) => r.id)).to.deep.equal([...before, newId].sort());
      // Round trip again, unchanged: nothing new.
      const again = await api('put', `/api/fleet/agent_policies/${created.id}`, { outputs: after.outputs, inputs: after.inputs });
      expect(again.status, again.text).to.equal(200);
      expect((again.body as { item: Item }).item.secret_references).to.deep.equal(after.secret_references);
    });

    it('When secrets input is bad, then the answer is 400 naming the path, never the value', async () => {
      const big = `canary-big-${tag}-${'x'.repeat(MAX_SECRET_INPUT_BYTES)}`;
      const cases: { send: object; path: string }[] = [
        { send: { outputs: { default: { type: 'elasticsearch', secrets: { ssl: { key: big } } } } }, path: 'outputs.default.secrets.ssl.key' },
        { send: { inputs: [{ type: 'x', secrets: { a: { b: { c: { d: { e: `canary-deep-${tag}` } } } } } }] }, path: 'inputs.0.secrets.a.b.c.d' },
        { send: { inputs: [{ type: 'x', secrets: { port: 5 } }] }, path: 'inputs.0.secrets.port' },
        { send: { inputs: [{ type: 'x', streams: [{ secrets: { password: '' } }] }] }, path: 'inputs.0.streams.0.secrets.password' },
        { send: { inputs: [{ type: 'x', password: 'p', secrets: { password: `canary-twice-${tag}` } }] }, path: 'inputs.0.secrets.password' },
        { send: { inputs: [{ type: 'x', secrets: [`canary-array-${tag}`] }] }, path: 'inputs.0.secrets' },
        { send: { inputs: [{ type: 'x', secrets: Object.fromEntries(Array.from({ length: MAX_POLICY_SECRETS + 1 }, (_, i) => [`f${i}`, `canary-many-${tag}`])) }] }, path: 'secrets' },
      ];
      for (const c of cases) {
        for (const [method, path] of [['put', `/api/fleet/agent_policies/${created.id}`], ['post', '/api/fleet/agent_policies']] as const) {
          const res = await api(method, path, method === 'post' ? { name: `bad ${tag}`, ...c.send } : c.send);
          expect(res.status, `${c.path}: ${res.text.slice(0, 300)}`).to.equal(400);
          expect(res.body).to.have.keys(['statusCode', 'error', 'message']);
          expect((res.body as { message: string }).message).to.include(`${c.path}:`);
          expect(res.text).to.not.include('canary-');
        }
      }
      const still = await api('get', `/api/fleet/agent_policies/${created.id}`);
      expect((still.body as { item: Item }).item.revision).to.equal(3);
    });

    if (backend === 'sqlite') {
      it('When a change is refused (a taken name, a stale If-Match), then none of its secret values is stored', async () => {
        const count = () => {
          const db = new Database(join(h.dataDir, 'fleet.db'), { readonly: true });
          try {
            return (db.prepare('SELECT count(*) AS n FROM secrets').get() as { n: number }).n;
          } finally {
            db.close();
          }
        };
        const other = await api('post', '/api/fleet/agent_policies', { name: `taken ${tag}` });
        expect(other.status, other.text).to.equal(200);
        const before = count();
        const input = { type: 'httpjson', secrets: { api_key: `canary-refused-${tag}` } };
        const renamed = await api('put', `/api/fleet/agent_policies/${created.id}`, { name: `taken ${tag}`, inputs: [input] });
        expect(renamed.status, renamed.text).to.equal(409);
        const stale = await request(h.url).put(`/api/fleet/agent_policies/${created.id}`).set(h.admin).set('If-Match', '"1"').send({ inputs: [input] });
        expect(stale.status, stale.text).to.equal(412);
        expect(count()).to.equal(before);
      });

      it('When the values are stored, then neither the SQLite file nor its WAL holds one', () => {
        const db = join(h.dataDir, 'fleet.db');
        const files = [db, `${db}-wal`].filter((f) => existsSync(f));
        expect(files).to.include(db);
        for (const file of files) {
          const bytes = readFileSync(file);
          for (const canary of canaries) expect(bytes.includes(Buffer.from(canary)), `${canary} in ${file}`).to.equal(false);
        }
      });
    }

    if (backend === 'elasticsearch') {
      it('When the server runs on the service account, which may not write secrets, then a secrets input answers 500 naming the privilege', async () => {
        await h.restart({ store: { elasticsearch: { serviceTokenFile: process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '', username: '' } } });
        const revision = ((await api('get', `/api/fleet/agent_policies/${created.id}`)).body as { item: Item }).item.revision;
        const value = `canary-refused-${tag}`;
        canaries.push(value);
        const res = await api('put', `/api/fleet/agent_policies/${created.id}`, { inputs: [{ type: 'x', secrets: { password: value } }] });
        expect(res.status, res.text).to.equal(500);
        expect(res.body).to.deep.equal({
          statusCode: 500,
          error: 'Internal Server Error',
          message: (res.body as { message: string }).message,
        });
        expect((res.body as { message: string }).message).to.match(/may not write \.fleet-secrets.*needs write/);
        // Nothing was written; a read→PUT round trip stores nothing, so it works on the service account too.
        const read = (await api('get', `/api/fleet/agent_policies/${created.id}`)).body as { item: Item };
        expect(read.item.revision).to.equal(revision);
        const put = await api('put', `/api/fleet/agent_policies/${created.id}`, { outputs: read.item.outputs, inputs: read.item.inputs });
        expect(put.status, put.text).to.equal(200);
      });
    }

    it('When the run is over, then no value is in any log line or management API answer', () => {
      expect(h.logs.length).to.be.greaterThan(10);
      expect(answers.length).to.be.greaterThan(10);
      for (const canary of canaries) {
        expect(h.logs.filter((l) => l.includes(canary)), 'log lines').to.deep.equal([]);
        expect(answers.filter((a) => a.includes(canary)), 'management API answers').to.deep.equal([]);
      }
    });
  });
}
