import type { estypes } from '@elastic/elasticsearch';
import { expect } from 'chai';
import { presenceAgentId, presenceHealth } from '@fleet/checkin-gateway';
import {
  FLEET_SERVER_POLICY_ID,
  OFFLINE_AFTER_MS,
  isoSeconds,
  type AgentDoc,
  type ElasticsearchFleetStore,
  type FleetStore,
} from '@fleet/store';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { adminGet } from './support/elasticsearch-admin';
import { eventually, sleep, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

/** Short heartbeats, so a test sees several; Kibana's offline window (5 min) is never shortened. */
const PRESENCE = { enabled: true, heartbeatIntervalMs: 200, legacyIntervalMs: 400, cleanupAfterMs: 3_600_000, cleanupBatch: 100 };

const agentOf = async (store: FleetStore, id: string): Promise<AgentDoc | undefined> => (await store.agents.get(id))?._source;

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) {
  describe(`Fleet Server presence, as Kibana reads it (${backend})`, function () {
    this.timeout(60_000);
    let h: Harness;
    let agentId: string;

    before(async () => {
      h = await startHarness({ presence: PRESENCE, server: { replicaId: `presence-${backend}-${process.pid}` } }, undefined, backend);
      agentId = h.server.gateway.presence!.identity.agentId;
    });
    after(async () => h?.stop());

    it('When the server starts, then it keeps a managed Fleet Server policy with a fleet-server input, and refuses to delete it', async () => {
      const res = await request(h.url).get(`/api/fleet/agent_policies/${FLEET_SERVER_POLICY_ID}`).set(h.admin);
      expect(res.status).to.equal(200);
      expect(res.body.item).to.include({ is_managed: true, has_fleet_server: true, is_default_fleet_server: true, revision: 1 });
      const revision = await h.server.store.policies.latest(FLEET_SERVER_POLICY_ID);
      expect(revision?._source.default_fleet_server).to.equal(true);
      expect(revision?._source.data.inputs.map((i) => i.type)).to.deep.equal(['fleet-server']);
      expect(revision?._source.data.inputs[0]).to.deep.include({ data_stream: { namespace: 'default' }, meta: { package: { name: 'fleet_server' } } });

      const del = await request(h.url).post('/api/fleet/agent_policies/delete').set(h.admin).send({ agentPolicyId: FLEET_SERVER_POLICY_ID });
      expect(del.status).to.equal(400);
      expect(del.body).to.deep.equal({ statusCode: 400, error: 'Bad Request', message: `Cannot delete hosted agent policy ${FLEET_SERVER_POLICY_ID}` });
      // The default policy has no fleet-server input: no has_fleet_server.
      const other = await request(h.url).get('/api/fleet/agent_policies/fleet-default-policy').set(h.admin);
      expect(other.body.item).to.not.have.property('has_fleet_server');
    });

    it('When the replica runs, then its agent document checks in on that policy with the version, host and healthy components, again and again', async () => {
      const doc = await eventually(() => agentOf(h.server.store, agentId), 10_000);
      expect(doc).to.include({ active: true, type: 'PERMANENT', policy_id: FLEET_SERVER_POLICY_ID, last_checkin_status: 'online' });
      expect(doc.local_metadata).to.deep.include({ elastic: { agent: { id: agentId, version: h.server.gateway.presence!.identity.version, snapshot: false, upgradeable: false } } });
      expect((doc.local_metadata.host as { hostname: string }).hostname).to.equal(hostname());
      expect(doc.policy_revision_idx).to.equal(1);
      expect(doc.components?.map((c) => [c.id, c.type, c.status])).to.deep.equal([
        ['fleet-server-store', 'fleet-server', 'HEALTHY'],
        ['fleet-server-bus', 'fleet-server', 'HEALTHY'],
      ]);
      expect(doc.components?.[0]?.units?.[0]).to.include({ id: `fleet-server-store-${backend}`, type: 'output', status: 'HEALTHY' });
      const first = doc.last_checkin!;
      await eventually(async () => ((await agentOf(h.server.store, agentId))?.last_checkin ?? '') > first, 5_000, 100);
    });

    it("When the management API counts the Fleet Server policy's agents, then the replica is online: Kibana's connected rule (online + updating > 0) holds", async () => {
      const res = await request(h.url).get(`/api/fleet/agent_status?policyId=${FLEET_SERVER_POLICY_ID}`).set(h.admin);
      expect(res.status).to.equal(200);
      expect(res.body.results.online + res.body.results.updating).to.equal(1);
      // Kibana lists Fleet Server agents with the others, and so does this server.
      const list = await request(h.url).get('/api/fleet/agents').set(h.admin);
      expect(list.body.items.map((a: { id: string }) => a.id)).to.include(agentId);
    });

    it('When older Kibana counts .fleet-servers, then it finds this replica, refreshed on the legacy interval', async () => {
      expect(await h.server.store.fleetServers.count()).to.equal(1);
      const first = (await h.server.store.fleetServers.get(agentId))!._source;
      expect(first).to.deep.include({ agent: { id: agentId, version: first.server.version }, server: { id: agentId, version: first.server.version } });
      expect(first.host).to.include({ name: hostname(), architecture: process.arch });
      await eventually(async () => ((await h.server.store.fleetServers.get(agentId))?._source['@timestamp'] ?? '') > first['@timestamp'], 5_000, 100);
    });

    it('When the server restarts on the same store, then the policy is not written again and the replica (a stable FLEET_REPLICA_ID) keeps its one document', async () => {
      await h.restart({ presence: PRESENCE });
      expect(h.server.gateway.presence!.identity.agentId).to.equal(agentId);
      expect((await h.server.store.agentPolicies.get(FLEET_SERVER_POLICY_ID))?.revision).to.equal(1);
      const res = await request(h.url).get(`/api/fleet/agent_status?policyId=${FLEET_SERVER_POLICY_ID}`).set(h.admin);
      expect(res.body.results.all).to.equal(1);
      expect(await h.server.store.fleetServers.count()).to.equal(1);
    });

    it('When replicas have been silent past the cleanup age, then their documents go, and agents that enrolled on the policy and this replica stay', async () => {
      const presence = h.server.gateway.presence!;
      const longAgo = new Date(Date.now() - 2 * 3_600_000);
      const silentReplica: AgentDoc = {
        ...(await agentOf(h.server.store, agentId))!,
        enrolled_at: isoSeconds(longAgo),
        last_checkin: isoSeconds(longAgo),
        local_metadata: { fleet_server: { replica: 'gone-replica' } },
      };
      await h.server.store.agents.create('gone-replica-agent', silentReplica);
      await h.server.store.agents.create('enrolled-agent', { ...silentReplica, access_api_key_id: 'a-real-key', local_metadata: {} });
      await h.server.store.fleetServers.put('gone-replica-agent', {
        '@timestamp': longAgo.toISOString(),
        agent: { id: 'gone-replica-agent', version: '9.6.0' },
        host: { id: 'h', architecture: 'x64', name: 'h' },
        server: { id: 'gone-replica-agent', version: '9.6.0' },
      });
      // This call, or the replica's own timer that may come first, deletes it: never the others.
      await presence.cleanup();
      await presence.cleanup();
      expect(await h.server.store.agents.get('gone-replica-agent')).to.equal(undefined);
      expect(await h.server.store.agents.get('enrolled-agent')).to.not.equal(undefined);
      expect(await h.server.store.agents.get(agentId)).to.not.equal(undefined);
      expect(await h.server.store.fleetServers.get('gone-replica-agent')).to.equal(undefined);
      expect(await h.server.store.fleetServers.count()).to.equal(1);
      await h.server.store.agents.delete('enrolled-agent');
    });

    if (backend === 'elasticsearch') {
      it("When Kibana's own queries run on the cluster, then they say Fleet Server is connected", async () => {
        const store = h.server.store as ElasticsearchFleetStore;
        // Current Kibana (hasFleetServersForPolicies, activeOnly): agents of its Fleet Server
        // policies whose status runtime field is online or updating. Its painless rule, branch by
        // branch, as a query at `now` (build_status_runtime_field.ts).
        const now = Date.now();
        const lastSeenAfter = new Date(now - OFFLINE_AFTER_MS).toISOString();
        const kibanaOnlineOrUpdating: estypes.QueryDslQueryContainer = {
          bool: {
            filter: [
              { term: { policy_id: FLEET_SERVER_POLICY_ID } },
              { bool: { should: [{ bool: { must_not: { exists: { field: 'namespaces' } } } }, { term: { namespaces: 'default' } }], minimum_should_match: 1 } },
              { bool: { must_not: { term: { active: false } } } },
              { bool: { must_not: { terms: { audit_unenrolled_reason: ['uninstall', 'orphaned'] } } } },
              // not offline: last seen (last_checkin, else enrolled_at) within 10 × 30 s
              {
                bool: {
                  should: [
                    { range: { last_checkin: { gte: lastSeenAfter } } },
                    { bool: { must_not: { exists: { field: 'last_checkin' } }, filter: { range: { enrolled_at: { gte: lastSeenAfter } } } } },
                  ],
                  minimum_should_match: 1,
                },
              },
              {
                bool: {
                  should: [
                    // updating
                    { bool: { must_not: { exists: { field: 'policy_revision_idx' } } } },
                    { bool: { filter: { exists: { field: 'upgrade_started_at' } }, must_not: { exists: { field: 'upgraded_at' } } } },
                    // online
                    {
                      bool: {
                        filter: { exists: { field: 'last_checkin' } },
                        must_not: [
                          { exists: { field: 'unenrollment_started_at' } },
                          { terms: { last_checkin_status: ['error', 'degraded', 'ERROR', 'DEGRADED'] } },
                        ],
                      },
                    },
                  ],
                  minimum_should_match: 1,
                },
              },
            ],
          },
        };
        await store.client.indices.refresh({ index: '.fleet-agents' });
        const connected = await store.client.count({ index: '.fleet-agents', query: kibanaOnlineOrUpdating });
        expect(connected.count).to.equal(1);
        // Older Kibana (7.13 to early 8.x): a count of .fleet-servers, as its hasFleetServers asks it.
        const legacy = await adminGet<{ hits: { total: number } }>('/.fleet-servers/_search?ignore_unavailable=true&filter_path=hits.total&track_total_hits=true&rest_total_hits_as_int=true');
        expect(legacy.hits.total).to.be.greaterThan(0);
      });

      it('When a replica process is killed with SIGKILL, then its check-ins stop and its agent derives offline within the offline window, then the survivors delete it', async function () {
        this.timeout(120_000);
        // The survivor removes documents silent for 8 s, so the test sees the cleanup too.
        await h.restart({ presence: { ...PRESENCE, legacyIntervalMs: 500, cleanupAfterMs: 8_000 } });
        const replicaId = `presence-killed-${process.pid}`;
        const killedId = presenceAgentId(replicaId);
        const dataDir = mkdtempSync(join(tmpdir(), 'fleet-presence-'));
        let child: ChildProcess | undefined;
        try {
          child = spawn(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', resolve(__dirname, '../src/main.ts')], {
            env: {
              ...process.env,
              FLEET_STORE_BACKEND: 'elasticsearch',
              FLEET_ES_HOSTS: process.env.FLEET_ES_URL ?? '',
              FLEET_ES_SERVICE_TOKEN_FILE: process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '',
              FLEET_SQLITE_PATH: join(dataDir, 'fleet.db'),
              FLEET_HTTP_HOST: '127.0.0.1',
              FLEET_HTTP_PORT: '0',
              FLEET_METRICS_PORT: '0',
              FLEET_TLS_MODE: 'off',
              FLEET_LOG_LEVEL: 'warn',
              FLEET_PBKDF2_ITERATIONS: '1000',
              FLEET_REPLICA_ID: replicaId,
              FLEET_PRESENCE_HEARTBEAT_INTERVAL_MS: '300',
              FLEET_PRESENCE_LEGACY_INTERVAL_MS: '300',
            },
            stdio: ['ignore', 'ignore', 'inherit'],
          });
          const store = h.server.store;
          // Up: two check-ins seen.
          const firstSeen = await eventually(async () => (await agentOf(store, killedId))?.last_checkin, 60_000, 200);
          await eventually(async () => ((await agentOf(store, killedId))?.last_checkin ?? '') > firstSeen, 10_000, 100);
          expect(await store.fleetServers.get(killedId)).to.not.equal(undefined);

          child.kill('SIGKILL');
          await new Promise<void>((r) => (child!.exitCode !== null || child!.signalCode !== null ? r() : child!.once('exit', () => r())));
          const killedAt = Date.now();
          const lastCheckin = (await agentOf(store, killedId))!.last_checkin!;
          await sleep(1_500); // five missed heartbeats
          expect((await agentOf(store, killedId))?.last_checkin, 'no check-in after the kill').to.equal(lastCheckin);
          expect(Date.parse(lastCheckin)).to.be.at.most(killedAt);

          // The derived status, evaluated by the store's own status query (Elasticsearch counts it),
          // at the kill and at the end of Kibana's window after it: online, then offline.
          const statusAt = async (at: number) => {
            const hits = await store.agents.query({ page: 1, perPage: 100, policyIds: [FLEET_SERVER_POLICY_ID], statuses: ['offline'], now: new Date(at) });
            return hits.items.some((a) => a._id === killedId) ? 'offline' : 'not offline';
          };
          expect(await statusAt(killedAt)).to.equal('not offline');
          expect(await statusAt(killedAt + OFFLINE_AFTER_MS + 1_000)).to.equal('offline');

          // Then a survivor deletes it (silent past its cleanup age), and keeps itself.
          await eventually(async () => !(await store.agents.get(killedId)) && !(await store.fleetServers.get(killedId)), 20_000, 250);
          expect(await store.agents.get(agentId)).to.not.equal(undefined);
        } finally {
          if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          rmSync(dataDir, { recursive: true, force: true });
        }
      });
    }
  });
}

describe('Fleet Server presence: the components a replica reports', function () {
  it('When the store and every Redis connection answer, then all is HEALTHY and the agent is online', () => {
    const health = presenceHealth('HEALTHY', { 'bus-publisher': true, 'bus-subscriber': true }, 'elasticsearch');
    expect(health.status).to.equal('online');
    expect(health.unhealthyReason).to.deep.equal([]);
    expect(health.components.map((c) => [c.id, c.status, c.units?.length])).to.deep.equal([
      ['fleet-server-store', 'HEALTHY', 1],
      ['fleet-server-bus-redis', 'HEALTHY', 2],
    ]);
  });

  it('When a Redis connection is down, then the bus component is DEGRADED, named, and the agent degraded (not connected, for Kibana)', () => {
    const health = presenceHealth('HEALTHY', { 'bus-publisher': true, 'bus-subscriber': false }, 'elasticsearch');
    expect(health.status).to.equal('degraded');
    expect(health.unhealthyReason).to.deep.equal(['input']);
    const bus = health.components.find((c) => c.id === 'fleet-server-bus-redis');
    expect(bus?.status).to.equal('DEGRADED');
    expect(bus?.message).to.match(/bus-subscriber is down/);
  });

  it('When the store does not answer, then the store component FAILED and the agent reports error', () => {
    const health = presenceHealth('DEGRADED', {}, 'sqlite');
    expect(health.status).to.equal('error');
    expect(health.unhealthyReason).to.deep.equal(['output']);
    expect(health.components[0]).to.include({ id: 'fleet-server-store', status: 'FAILED', message: 'the sqlite store does not answer' });
  });
});
