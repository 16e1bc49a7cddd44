import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { ElasticsearchFleetStore } from '@fleet/store';
import { adminGet, openTestStore, wipeFleetIndices } from './support/elasticsearch-env';
import { defineSecretStoreContract } from './secret-store-contract';

/** A store as Kibana's side: the superuser, who may write `.fleet-secrets` on a cluster without the fleet module. */
function openAsSuperuser(): Promise<ElasticsearchFleetStore> {
  const url = process.env.FLEET_ES_URL;
  const passwordFile = process.env.FLEET_ES_PASSWORD_FILE;
  if (!url || !passwordFile) throw new Error('FLEET_ES_URL / FLEET_ES_PASSWORD_FILE are not set: the Elasticsearch fixture did not run');
  return ElasticsearchFleetStore.open({ hosts: [url], username: process.env.FLEET_ES_USERNAME ?? 'elastic', password: readFileSync(passwordFile, 'utf8').trim() });
}

describe('ElasticsearchFleetStore secrets', function () {
  before(wipeFleetIndices);

  defineSecretStoreContract('elasticsearch', openAsSuperuser);

  it('When the cluster has no fleet module, then the service account reads through the fallback what Kibana wrote, and may not write', async () => {
    const kibana = await openAsSuperuser();
    const fleetServer = await openTestStore();
    try {
      expect(fleetServer.capabilities?.fleetModule).to.equal(false);
      const id = await kibana.secrets.create('from-kibana');
      // As Kibana stores them: one `{value}` document per secret in .fleet-secrets.
      const doc = await adminGet<{ _source: unknown }>(`/.fleet-secrets/_doc/${encodeURIComponent(id)}`);
      expect(doc._source).to.deep.equal({ value: 'from-kibana' });
      expect((await fleetServer.secrets.get([id, 'missing'])).get(id)).to.equal('from-kibana');
      expect((await fleetServer.secrets.get(['missing'])).size).to.equal(0);
      let refused: unknown;
      await fleetServer.secrets.create('nope').catch((err: unknown) => (refused = err));
      expect(String((refused as Error | undefined)?.message)).to.match(/may not write \.fleet-secrets/);
      expect(String((refused as Error).message)).to.not.include('nope');
      expect(await kibana.secrets.delete([id])).to.equal(1);
      expect((await fleetServer.secrets.get([id])).size).to.equal(0);
    } finally {
      await fleetServer.close();
      await kibana.close();
    }
  });

  it('When .fleet-secrets does not exist yet, then reads find nothing (no error)', async () => {
    await wipeFleetIndices();
    const store = await openTestStore();
    try {
      expect((await store.secrets.get(['a', 'b'])).size).to.equal(0);
    } finally {
      await store.close();
    }
  });
});
