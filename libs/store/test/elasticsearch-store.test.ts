import { expect } from 'chai';
import { openTestStore, wipeFleetIndices } from './support/elasticsearch-env';
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
      for (const index of ['.fleet-agents', '.fleet-policies', '.fleet-actions', '.fleet-actions-results', '.fleet-enrollment-api-keys', '.fleet-policies-definitions']) {
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
});
