import { expect } from 'chai';
import { ElasticsearchFleetStore } from '@fleet/store';
import { adminDelete, adminGet, openTestStore, testConnection, wipeFleetIndices } from './support/elasticsearch-env';
import { agentDoc } from './store-contract';
import { defineStoreContract } from './store-contract';

defineStoreContract('elasticsearch', async () => {
  await wipeFleetIndices();
  return openTestStore();
});

describe('ElasticsearchFleetStore specifics', function () {
  before(wipeFleetIndices);

  it('When it opens on an empty cluster, then it creates the .fleet-* indices and reports what it found', async () => {
    const store = await openTestStore();
    try {
      expect(store.capabilities?.security).to.equal(true);
      expect(store.capabilities?.credentials).to.equal('elasticsearch');
      for (const index of ['.fleet-agents', '.fleet-policies', '.fleet-actions', '.fleet-actions-results', '.fleet-enrollment-api-keys', '.fleet-policies-definitions', '.fleet-policies-management-api-keys', '.fleet-policies-management-audit', '.fleet-policies-console-sessions-ended']) {
        const res = await store.client.search({ index, size: 0 });
        expect(res.hits.total, index).to.deep.equal({ value: 0, relation: 'eq' });
      }
    } finally {
      await store.close();
    }
  });

  it('When it opens again on existing indices, then it uses them as they are', async () => {
    const first = await openTestStore();
    await first.agentPolicies.create({
      id: 'p', name: 'p', namespace: 'default', revision: 1, is_managed: false, status: 'active', monitoring_enabled: [],
      inactivity_timeout: 0, created_at: new Date().toISOString(), updated_at: new Date().toISOString(), updated_by: 't',
    });
    await first.close();
    const second = await openTestStore();
    try {
      expect((await second.agentPolicies.get('p'))?.name).to.equal('p');
    } finally {
      await second.close();
    }
  });

  it('When the actions index does not exist (yet), then action reads answer empty and checkpoints -1, and writes work once it exists', async () => {
    const store = await openTestStore();
    try {
      await adminDelete('/.fleet-actions');
      expect(await store.actions.checkpoint()).to.equal(-1);
      expect(await store.actions.changesSince(-1, 10)).to.deep.equal([]);
      expect(await store.actions.pendingFor({ agentId: 'a', afterSeqNo: -1, now: new Date(), limit: 10 })).to.deep.equal([]);
      expect(await store.actions.findByActionId('x')).to.equal(undefined);
      expect(await store.actions.get('x')).to.equal(undefined);
    } finally {
      await store.close();
    }
    const reopened = await openTestStore();
    try {
      const hit = await reopened.actions.create({
        action_id: 'late', '@timestamp': new Date().toISOString(), expiration: new Date(Date.now() + 60_000).toISOString(), type: 'SETTINGS', agents: ['a'],
      });
      const pending = await reopened.actions.pendingFor({ agentId: 'a', afterSeqNo: -1, now: new Date(), limit: 10 });
      expect(pending.map((p) => p._id)).to.deep.equal([hit._id]);
    } finally {
      await reopened.close();
    }
  });

  it('When agents are created with searchable: false, then they go through the bulk writer in shared batches, without waiting for its flush interval or a single-document create', async () => {
    type Routes = { nodes: Record<string, { http: { routes?: Record<string, { requests: { count: number } }> } }> };
    const requests = async (route: string): Promise<number> => {
      const stats = await adminGet<Routes>('/_nodes/stats/http?filter_path=nodes.*.http.routes');
      return Object.values(stats.nodes).reduce((n, node) => n + (node.http.routes?.[route]?.requests.count ?? 0), 0);
    };
    const store = await ElasticsearchFleetStore.open({ ...testConnection(), bulker: { flushIntervalMs: 20_000 } });
    try {
      const createsBefore = await requests('/{index}/_create/{id}');
      const started = Date.now();
      const created = await Promise.all(Array.from({ length: 10 }, (_, i) => store.agents.create(`quick-${i}`, agentDoc({ access_api_key_id: `k-${i}` }), { searchable: false })));
      expect(Date.now() - started).to.be.below(5_000);
      expect(new Set(created.map((c) => c._seq_no)).size).to.equal(10);
      expect(store.bulker.batches).to.be.within(1, 2);
      expect(await requests('/{index}/_create/{id}')).to.equal(createsBefore);
      for (let i = 0; i < 10; i++) expect((await store.agents.get(`quick-${i}`))?._source.access_api_key_id).to.equal(`k-${i}`);
    } finally {
      await store.close();
    }
  });
});
