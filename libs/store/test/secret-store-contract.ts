/**
 * The `store.secrets` port, for every backend: `get(ids) → Map`, `create(value) → id`,
 * `delete(ids) → count`, with their bounds. Registered by each backend's test file with a store
 * whose credentials may write secrets (on Elasticsearch, Kibana's side of the work).
 */
import { expect } from 'chai';
import { MAX_SECRET_BATCH, MAX_SECRET_VALUE_BYTES, type FleetStore } from '@fleet/store';

async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export function defineSecretStoreContract(name: string, open: () => Promise<FleetStore>): void {
  describe(`SecretStore contract: ${name}`, function () {
    let store: FleetStore;
    before(async () => {
      store = await open();
    });
    after(async () => store.close());

    it('When values are created, then each gets its own id and get returns exactly the ids that exist', async () => {
      const a = await store.secrets.create('s3cr3t-a');
      const b = await store.secrets.create('line one\nline two: $co.elastic.secret{not-expanded} ✓');
      expect(a).to.be.a('string').with.length.above(0);
      expect(b).to.not.equal(a);
      const got = await store.secrets.get([a, b, 'no-such-secret', a]);
      expect([...got.entries()].sort()).to.deep.equal(
        [
          [a, 's3cr3t-a'],
          [b, 'line one\nline two: $co.elastic.secret{not-expanded} ✓'],
        ].sort(),
      );
      expect((await store.secrets.get([])).size).to.equal(0);
    });

    it('When the same value is created twice, then it is stored twice under two ids', async () => {
      const first = await store.secrets.create('same');
      const second = await store.secrets.create('same');
      expect(first).to.not.equal(second);
      expect((await store.secrets.get([first, second])).size).to.equal(2);
    });

    it('When ids are deleted, then they are gone, the count says how many existed, and the others stay', async () => {
      const keep = await store.secrets.create('keep');
      const drop1 = await store.secrets.create('drop-1');
      const drop2 = await store.secrets.create('drop-2');
      expect(await store.secrets.delete([drop1, drop2, 'never-existed'])).to.equal(2);
      const got = await store.secrets.get([keep, drop1, drop2]);
      expect([...got.keys()]).to.deep.equal([keep]);
      expect(await store.secrets.delete([drop1])).to.equal(0);
      expect(await store.secrets.delete([])).to.equal(0);
    });

    it('When a batch is over the bound or a value too large, then the call is refused and nothing is stored', async () => {
      const ids = Array.from({ length: MAX_SECRET_BATCH + 1 }, (_, i) => `id-${i}`);
      expect(await rejected(store.secrets.get(ids))).to.be.instanceOf(RangeError);
      expect(await rejected(store.secrets.delete(ids))).to.be.instanceOf(RangeError);
      expect(await rejected(store.secrets.create('x'.repeat(MAX_SECRET_VALUE_BYTES + 1)))).to.be.instanceOf(RangeError);
      const atBound = Array.from({ length: MAX_SECRET_BATCH }, (_, i) => `absent-${i}`);
      expect((await store.secrets.get(atBound)).size).to.equal(0);
    });

    it('When an id is odd (empty, slashes, path tricks, very long), then it is simply not found', async () => {
      const real = await store.secrets.create('real');
      const got = await store.secrets.get(['', '../_search', `${real}/..`, 'a/b', 'x'.repeat(600), real]);
      expect([...got.entries()]).to.deep.equal([[real, 'real']]);
    });
  });
}
