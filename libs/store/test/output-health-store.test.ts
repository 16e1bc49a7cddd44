import { OUTPUT_HEALTH_DATA_STREAM, SqliteFleetStore, type ElasticsearchFleetStore, type OutputHealthDoc } from '@fleet/store';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineOutputHealthContract } from './output-health-contract';
import { adminDelete, adminGet, openTestStore } from './support/elasticsearch-env';

describe('Output health store (sqlite)', function () {
  let store: SqliteFleetStore;
  beforeEach(() => {
    store = new SqliteFleetStore({ path: join(mkdtempSync(join(tmpdir(), 'fleet-health-')), 'fleet.db') });
  });
  afterEach(() => store.close());
  defineOutputHealthContract(
    () => store,
    (output) => Promise.resolve(store.outputHealthOf(output)),
  );
});

describe('Output health store (elasticsearch)', function () {
  let store: ElasticsearchFleetStore;
  const wipe = async () => {
    await adminDelete(`/_data_stream/${OUTPUT_HEALTH_DATA_STREAM}`).catch(() => undefined);
    await adminDelete(`/${OUTPUT_HEALTH_DATA_STREAM}?ignore_unavailable=true`);
  };
  beforeEach(async () => {
    await wipe();
    store = await openTestStore();
  });
  afterEach(async () => {
    await store.close();
    await wipe();
  });
  defineOutputHealthContract(
    () => store,
    async (output) => {
      const res = await adminGet<{ hits: { hits: { _source: OutputHealthDoc }[] } }>(`/${OUTPUT_HEALTH_DATA_STREAM}/_search?size=100&sort=@timestamp:desc`);
      return res.hits.hits.map((h) => h._source).filter((d) => d.output === output);
    },
  );
});
