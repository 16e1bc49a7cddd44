import type { CheckinResponse, FleetAgentClient } from '@fleet/agent-protocol';
import { ElasticsearchFleetStore, SqliteFleetStore, type FleetStore, type OutputHealthDoc } from '@fleet/store';
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { readEsEnvFile } from '../../../deploy/elasticsearch/es-env-file';
import { enrollAgent, eventually, localMetadata, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

const ES_NODE = resolve(__dirname, '../../../deploy/elasticsearch/es-node.sh');
const POLICY = 'fleet-default-policy';
const REMOTE_INDEX = 'logs-remote-default';

/** A second Elasticsearch node, the remote cluster: started for this file, stopped and resumed by the tests. */
class RemoteNode {
  readonly workDir = mkdtempSync(join(tmpdir(), 'fleet-remote-es-'));
  env: Record<string, string> = {};

  async start(): Promise<void> {
    const envFile = execFileSync(ES_NODE, ['start', this.workDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000, env: { ...process.env, FLEET_ES_HEAP: '512m', FLEET_ES_PORT: '0' } }).trim();
    this.env = readEsEnvFile(envFile);
    // What an integration's package installs on the remote cluster: the agents' data stream (a
    // single node: no replicas, so the node is green again when it is resumed).
    const password = readFileSync(this.env.FLEET_ES_PASSWORD_FILE ?? '', 'utf8').trim();
    const res = await fetch(`${this.url}/_index_template/logs-remote`, {
      method: 'PUT',
      headers: { authorization: `Basic ${Buffer.from(`elastic:${password}`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ index_patterns: ['logs-remote-*'], data_stream: {}, priority: 500, template: { settings: { number_of_replicas: 0 } } }),
    });
    if (!res.ok) throw new Error(`index template on the remote node: ${res.status} ${await res.text()}`);
  }
  stop(): void {
    execFileSync(ES_NODE, ['stop', this.workDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
  }
  resume(): void {
    execFileSync(ES_NODE, ['resume', this.workDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  }
  clean(): void {
    execFileSync(ES_NODE, ['clean', this.workDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
  }
  get url(): string {
    return this.env.FLEET_ES_URL ?? '';
  }
  get serviceToken(): string {
    return readFileSync(this.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '', 'utf8').trim();
  }
  /** Indexes one document as an agent would (its output key), returning the HTTP status. */
  write(apiKey: string): Promise<number> {
    return writeWithKey(this.url, apiKey);
  }
}

/** Indexes one document into a cluster as an agent would with its output key; the HTTP status. */
async function writeWithKey(url: string, apiKey: string): Promise<number> {
  const res = await fetch(`${url}/${REMOTE_INDEX}/_doc`, {
    method: 'POST',
    headers: { authorization: `ApiKey ${Buffer.from(apiKey).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ '@timestamp': new Date().toISOString(), message: 'from the agent' }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The local cluster as Kibana (the superuser): writes `.fleet-secrets`, reads the health data stream. */
function localAdmin(): { url: string; auth: string } {
  const url = process.env.FLEET_ES_URL ?? '';
  const password = readFileSync(process.env.FLEET_ES_PASSWORD_FILE ?? '', 'utf8').trim();
  return { url, auth: `Basic ${Buffer.from(`${process.env.FLEET_ES_USERNAME ?? 'elastic'}:${password}`).toString('base64')}` };
}

async function healthDocs(h: Harness, backend: Backend, output: string): Promise<OutputHealthDoc[]> {
  if (backend === 'sqlite') return (h.server.store as SqliteFleetStore).outputHealthOf(output);
  const { url, auth } = localAdmin();
  const res = await fetch(`${url}/logs-fleet_server.output_health-default/_search?size=100&sort=@timestamp:desc&seq_no_primary_term=false`, {
    headers: { authorization: auth },
  });
  if (res.status === 404) return [];
  const body = (await res.json()) as { hits: { hits: { _source: OutputHealthDoc }[] } };
  return body.hits.hits.map((hit) => hit._source).filter((d) => d.output === output);
}

type Policy = { outputs: Record<string, Record<string, unknown>>; secret_paths?: string[] };
const policyOf = (res: CheckinResponse): Policy | undefined =>
  (res.actions?.find((a) => a.type === 'POLICY_CHANGE')?.data as { policy?: Policy } | undefined)?.policy;

const ackAll = (agent: FleetAgentClient, res: CheckinResponse) =>
  agent.ack((res.actions ?? []).map((a) => ({ action_id: a.id, agent_id: agent.agentId, timestamp: new Date().toISOString(), message: 'ok' })));

/** Checks in until the delivered policy has the output (a replica may first hand out the revision before the PUT). */
async function checkinForOutput(agent: FleetAgentClient, output: string): Promise<{ res: CheckinResponse; policy: Policy }> {
  for (let i = 0; i < 5; i++) {
    const res = await agent.checkin({ status: 'online', message: '' });
    const policy = policyOf(res);
    if (policy?.outputs[output]) return { res, policy };
    await ackAll(agent, res);
  }
  throw new Error(`no policy with output ${output} delivered`);
}

describe('Remote Elasticsearch outputs: keys on the remote cluster, and output health', function () {
  this.timeout(600_000);
  const remote = new RemoteNode();

  before(async function () {
    await remote.start();
  });
  after(function () {
    remote.clean();
  });

  for (const backend of ['elasticsearch', 'sqlite'] as Backend[]) {
    describe(`with the ${backend} store`, function () {
      let h: Harness;
      let kibana: ElasticsearchFleetStore | undefined;
      const agents: FleetAgentClient[] = [];
      let remoteKey = '';
      let secondKey = '';

      before(async function () {
        h = await startHarness({ remoteOutputs: { pingIntervalMs: 0 } }, undefined, backend);
        const admin = backend === 'elasticsearch' ? localAdmin() : undefined;
        kibana = admin
          ? await ElasticsearchFleetStore.open({ hosts: [admin.url], username: process.env.FLEET_ES_USERNAME ?? 'elastic', password: readFileSync(process.env.FLEET_ES_PASSWORD_FILE ?? '', 'utf8').trim() })
          : undefined;
      });
      after(async () => {
        for (const a of agents) a.close();
        await kibana?.close();
        await h?.stop();
      });

      it("When a policy has a remote_elasticsearch output, then the agent gets an elasticsearch output with its own key that writes to the remote cluster, and no service token", async () => {
        const writer: FleetStore = kibana ?? h.server.store;
        const tokenSecret = await writer.secrets.create(remote.serviceToken);
        const put = await request(h.url)
          .put(`/api/fleet/agent_policies/${POLICY}`)
          .set(h.admin)
          .send({
            outputs: { remote1: { type: 'remote_elasticsearch', hosts: [remote.url], secrets: { service_token: { id: tokenSecret } } } },
            output_permissions: { remote1: { writer: { indices: [{ names: [REMOTE_INDEX], privileges: ['auto_configure', 'create_doc'] }] } } },
          });
        expect(put.status, put.text).to.equal(200);
        expect(put.text).to.not.include(remote.serviceToken);
        const agent = await enrollAgent(h);
        agents.push(agent);
        const { res, policy } = await checkinForOutput(agent, 'remote1');
        const output = policy.outputs.remote1;
        expect(output).to.include({ type: 'elasticsearch' });
        expect(output).to.not.have.property('service_token');
        expect(JSON.stringify(policy)).to.not.include(remote.serviceToken);
        expect(policy.secret_paths ?? []).to.not.include('outputs.remote1.service_token');
        remoteKey = typeof output?.api_key === 'string' ? output.api_key : '';
        expect(remoteKey).to.match(/^[^:]+:[^:]+$/);
        expect(await remote.write(remoteKey), 'the key writes to the remote cluster').to.equal(201);
        const doc = await h.server.store.agents.get(agent.agentId!);
        expect(doc?._source.outputs?.remote1).to.include({ type: 'remote_elasticsearch', api_key: remoteKey });
        // The key was made on the remote cluster, not on the local one.
        if (backend === 'elasticsearch') expect(await h.server.store.credentials.get(remoteKey.split(':')[0]!)).to.equal(undefined);
        await ackAll(agent, res);
        const health = await eventually(async () => (await healthDocs(h, backend, 'remote1')).filter((d) => d.state === 'HEALTHY'), 10_000, 200);
        expect(health[0]).to.include({ output: 'remote1', state: 'HEALTHY' });
        expect(health[0]?.data_stream).to.deep.equal({ type: 'logs', dataset: 'fleet_server.output_health', namespace: 'default' });
      });

      it('When a second agent gets the same output, then no second HEALTHY document is written (one per state change)', async () => {
        const before = await healthDocs(h, backend, 'remote1');
        const agent = await enrollAgent(h);
        agents.push(agent);
        const { res, policy } = await checkinForOutput(agent, 'remote1');
        const key = policy.outputs.remote1?.api_key;
        expect(key).to.be.a('string').and.not.equal(remoteKey);
        secondKey = key as string;
        expect(await remote.write(secondKey)).to.equal(201);
        await ackAll(agent, res);
        expect(await healthDocs(h, backend, 'remote1')).to.have.length(before.length);
      });

      it('When the agent is unenrolled, then its remote key is revoked on the remote cluster', async () => {
        const agent = agents[0]!;
        expect(await remote.write(remoteKey), 'the key works before').to.equal(201);
        await request(h.url).post(`/api/fleet/agents/${agent.agentId}/unenroll`).set(h.admin).send({ revoke: true }).expect(200);
        await eventually(async () => (await remote.write(remoteKey)) === 401, 30_000, 250);
      });

      it('When the remote node stops, then the output turns DEGRADED; when it is back, HEALTHY again', async () => {
        remote.stop();
        try {
          await h.server.gateway.remoteMonitor.tick();
          const degraded = (await healthDocs(h, backend, 'remote1'))[0];
          expect(degraded).to.include({ output: 'remote1', state: 'DEGRADED' });
          expect(degraded?.message).to.match(/unreachable/);
          expect(degraded?.message).to.not.include(remote.serviceToken);
          // A new agent still gets its policy, without a key for the unreachable output.
          const agent = await enrollAgent(h);
          agents.push(agent);
          const { policy } = await checkinForOutput(agent, 'remote1');
          expect(policy.outputs.remote1).to.include({ type: 'elasticsearch' }).and.not.have.property('api_key');
        } finally {
          remote.resume();
        }
        await h.server.gateway.remoteMonitor.tick();
        expect((await healthDocs(h, backend, 'remote1'))[0]).to.include({ output: 'remote1', state: 'HEALTHY' });
      });

      it('When the remote output leaves the policy, then its key is revoked on the remote cluster once the agent acks the new revision', async () => {
        const agent = agents[1]!;
        expect(await remote.write(secondKey), 'the key works before').to.equal(201);
        await request(h.url)
          .put(`/api/fleet/agent_policies/${POLICY}`)
          .set(h.admin)
          .send({ outputs: { default: { type: 'elasticsearch', hosts: ['http://127.0.0.1:9200'] } }, output_permissions: { default: { writer: { indices: [{ names: ['logs-local-default'], privileges: ['create_doc'] }] } } } })
          .expect(200);
        const { res, policy } = await checkinForOutput(agent, 'default');
        expect(policy.outputs).to.not.have.property('remote1');
        expect(await remote.write(secondKey), 'still valid before the ack').to.equal(201);
        await ackAll(agent, res);
        await eventually(async () => (await remote.write(secondKey)) === 401, 30_000, 250);
      });
    });
  }

  // Where a key is revoked: on the cluster it was made on, whatever became of its output and of
  // the agent's policy since. The local test node is a second cluster (B), with its own token.
  for (const backend of ['elasticsearch', 'sqlite'] as Backend[]) {
    describe(`revocation on the key's own cluster, with the ${backend} store`, function () {
      /** Small, so that the depth test writes tens of revisions, not thousands (more than 50, the old fixed depth). */
      const SEARCH_REVISIONS = 60;
      const permissions = { writer: { indices: [{ names: [REMOTE_INDEX], privileges: ['auto_configure', 'create_doc'] }] } };
      const localOutput = { default: { type: 'elasticsearch', hosts: ['http://127.0.0.1:9200'] } };
      let h: Harness;
      let kibana: ElasticsearchFleetStore | undefined;
      const agents: FleetAgentClient[] = [];
      let tokenA = '';
      let tokenB = '';
      let kept: { key: string; hostsHash: string } | undefined;
      const clusterB = (): string => process.env.FLEET_ES_URL ?? '';

      before(async function () {
        h = await startHarness({ remoteOutputs: { pingIntervalMs: 0 }, jobs: { remoteRevocationSearchRevisions: SEARCH_REVISIONS } }, undefined, backend);
        const admin = backend === 'elasticsearch' ? localAdmin() : undefined;
        kibana = admin
          ? await ElasticsearchFleetStore.open({ hosts: [admin.url], username: process.env.FLEET_ES_USERNAME ?? 'elastic', password: readFileSync(process.env.FLEET_ES_PASSWORD_FILE ?? '', 'utf8').trim() })
          : undefined;
        const writer: FleetStore = kibana ?? h.server.store;
        tokenA = await writer.secrets.create(remote.serviceToken);
        tokenB = await writer.secrets.create(readFileSync(process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '', 'utf8').trim());
      });
      after(async () => {
        for (const a of agents) a.close();
        await kibana?.close();
        await h?.stop();
      });

      const remoteOutput = (hosts: string, token: string) => ({ type: 'remote_elasticsearch', hosts: [hosts], secrets: { service_token: { id: token } } });

      /** Creates a policy; returns an enrollment token of it. */
      async function createPolicy(id: string, outputs: Record<string, unknown>): Promise<string> {
        const output_permissions = Object.fromEntries(Object.keys(outputs).map((name) => [name, permissions]));
        const created = await request(h.url).post('/api/fleet/agent_policies').set(h.admin).send({ id, name: id, outputs, output_permissions });
        expect(created.status, created.text).to.equal(200);
        const key = await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: id }).expect(200);
        return key.body.item.api_key as string;
      }

      async function updatePolicy(id: string, body: Record<string, unknown>): Promise<void> {
        const res = await request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).send(body);
        expect(res.status, res.text).to.equal(200);
      }

      /** An agent enrolled into the policy, holding its key for `output` (acked). */
      async function agentWithKey(enrollmentToken: string, output: string): Promise<{ agent: FleetAgentClient; key: string }> {
        const agent = h.agent();
        agents.push(agent);
        await agent.enroll(enrollmentToken, { type: 'PERMANENT', metadata: { local: localMetadata(), user_provided: {}, tags: [] } });
        const { res, policy } = await checkinForOutput(agent, output);
        const key = policy.outputs[output]?.api_key;
        expect(key, 'the agent got a key').to.be.a('string');
        await ackAll(agent, res);
        expect(await remote.write(key as string), 'the key writes to cluster A').to.equal(201);
        return { agent, key: key as string };
      }

      const revokedOnA = (key: string) => eventually(async () => (await remote.write(key)) === 401, 30_000, 250);

      it('When the output is pointed at another cluster, then the old key is revoked on the cluster it was made on once the agent acks', async () => {
        const token = await createPolicy('hosts-moved', { r: remoteOutput(remote.url, tokenA) });
        const { agent, key: onA } = await agentWithKey(token, 'r');
        await updatePolicy('hosts-moved', { outputs: { r: remoteOutput(clusterB(), tokenB) }, output_permissions: { r: permissions } });
        let moved: { res: CheckinResponse; key: string } | undefined;
        for (let i = 0; i < 5 && !moved; i++) {
          const res = await agent.checkin({ status: 'online', message: '' });
          const key = policyOf(res)?.outputs.r?.api_key;
          if (typeof key === 'string' && key !== onA) moved = { res, key };
          else await ackAll(agent, res);
        }
        if (!moved) expect.fail('no revision with the output on cluster B delivered');
        expect(await writeWithKey(clusterB(), moved.key), 'the new key was made on cluster B').to.equal(201);
        expect(await remote.write(onA), 'the old key is valid until the ack').to.equal(201);
        await ackAll(agent, moved.res);
        await revokedOnA(onA);
        expect(await writeWithKey(clusterB(), moved.key), 'the new key stays').to.equal(201);
      });

      it('When an agent leaves the policy its key was made under, then the key is revoked on that policy\'s cluster once the agent acks the new one', async () => {
        const token = await createPolicy('made-under-p1', { r1: remoteOutput(remote.url, tokenA) });
        await createPolicy('moved-to-p2', localOutput);
        const { agent, key } = await agentWithKey(token, 'r1');
        await request(h.url).post(`/api/fleet/agents/${agent.agentId}/reassign`).set(h.admin).send({ policy_id: 'moved-to-p2' }).expect(200);
        const { res, policy } = await checkinForOutput(agent, 'default');
        expect(policy.outputs).to.not.have.property('r1');
        expect(await remote.write(key), 'valid until the ack').to.equal(201);
        await ackAll(agent, res);
        await revokedOnA(key);
      });

      it('When an agent moved to another policy is unenrolled, then the key made under its former policy is revoked on that cluster', async () => {
        const token = await createPolicy('unenrolled-from-p1', { r1: remoteOutput(remote.url, tokenA) });
        const { agent, key } = await agentWithKey(token, 'r1');
        await request(h.url).post(`/api/fleet/agents/${agent.agentId}/reassign`).set(h.admin).send({ policy_id: 'moved-to-p2' }).expect(200);
        await request(h.url).post(`/api/fleet/agents/${agent.agentId}/unenroll`).set(h.admin).send({ revoke: true }).expect(200);
        await revokedOnA(key);
      });

      it('When an agent moves to a policy with the same output on the same cluster, then it keeps its key, recorded under the new policy', async () => {
        const token = await createPolicy('same-cluster-p1', { r: remoteOutput(remote.url, tokenA) });
        await createPolicy('same-cluster-p2', { r: remoteOutput(remote.url, tokenA) });
        const { agent, key } = await agentWithKey(token, 'r');
        expect((await h.server.store.agents.get(agent.agentId!))?._source.outputs?.r).to.include({ remote_policy_id: 'same-cluster-p1' });
        await request(h.url).post(`/api/fleet/agents/${agent.agentId}/reassign`).set(h.admin).send({ policy_id: 'same-cluster-p2' }).expect(200);
        let delivered: CheckinResponse | undefined;
        for (let i = 0; i < 5 && !delivered; i++) {
          const res = await agent.checkin({ status: 'online', message: '' });
          if (res.actions?.some((a) => a.type === 'POLICY_CHANGE' && a.id.startsWith('policy:same-cluster-p2:'))) delivered = res;
          else await ackAll(agent, res);
        }
        if (!delivered) expect.fail('the new policy was not delivered');
        expect(policyOf(delivered)?.outputs.r?.api_key, 'the same key').to.equal(key);
        const recorded = (await h.server.store.agents.get(agent.agentId!))?._source.outputs?.r;
        expect(recorded).to.include({ api_key: key, remote_policy_id: 'same-cluster-p2' });
        expect(recorded?.to_retire_api_key_ids ?? []).to.deep.equal([]);
        kept = { key, hostsHash: recorded?.remote_hosts_hash ?? '' };
      });

      it("When a key's recorded policy has no revisions left, then it is found in the agent's policy by its hosts", async () => {
        if (!kept) expect.fail('the previous test did not complete');
        const id = kept.key.split(':')[0]!;
        const outcome = await h.server.dispatcher.jobHandlers['revoke-api-keys']({
          api_key_ids: [],
          reason: 'unenrolled',
          remote: { policy_id: 'same-cluster-p2', outputs: { r: [id] }, made_on: { [id]: { policy_id: 'deleted-policy', hosts_hash: kept.hostsHash } } },
        });
        expect(outcome).to.include({ remote_revoked: 1, remote_unresolved: 0 });
        await revokedOnA(kept.key);
      });

      it('When more than 50 revisions were written after the output left the policy, then its key is still revoked on its cluster', async () => {
        const token = await createPolicy('deep-history', { r: remoteOutput(remote.url, tokenA) });
        const { agent, key } = await agentWithKey(token, 'r');
        await updatePolicy('deep-history', { outputs: localOutput, output_permissions: { default: permissions } });
        const { res } = await checkinForOutput(agent, 'default');
        // The agent acks late: 55 revisions later (the key's cluster is 57 revisions deep).
        for (let i = 0; i < 55; i++) await updatePolicy('deep-history', { description: `revision ${i}` });
        expect(await remote.write(key), 'valid until the ack').to.equal(201);
        await ackAll(agent, res);
        await revokedOnA(key);
      });

      it('When a key\'s cluster is deeper than the revisions searched, then it is logged at warn and counted; an unreachable cluster fails the job', async () => {
        // The key's output is now 62 revisions deep in deep-history: past the 60 searched.
        for (let i = 0; i < 5; i++) await updatePolicy('deep-history', { description: `later ${i}` });
        const revoke = h.server.dispatcher.jobHandlers['revoke-api-keys'];
        // A payload as enqueued before the policy and hosts hash were recorded: found by output name.
        const outcome = await revoke({ api_key_ids: [], agent_id: 'agent-too-deep', reason: 'unenrolled', remote: { policy_id: 'deep-history', outputs: { r: ['key-1', 'key-2'] } } });
        expect(outcome).to.include({ remote_revoked: 0, remote_unresolved: 2 });
        const warned = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['fleet.agent.id'] === 'agent-too-deep');
        expect(warned).to.include({ level: 'warn', remote_unresolved: 2 });
        expect(warned?.api_key_ids).to.deep.equal(['key-1', 'key-2']);

        await createPolicy('unreachable-cluster', { r: remoteOutput('http://127.0.0.1:1', tokenA) });
        let failed: unknown;
        await revoke({ api_key_ids: [], reason: 'unenrolled', remote: { policy_id: 'unreachable-cluster', outputs: { r: ['key-3'] } } }).catch((err: unknown) => (failed = err));
        expect(failed, 'the job fails, to be retried').to.be.instanceOf(Error);
      });
    });
  }
});
