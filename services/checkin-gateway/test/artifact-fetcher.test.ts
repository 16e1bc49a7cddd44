import { ArtifactThrottleError, createLogger } from '@fleet/service-kit';
import { SqliteFleetStore, type ArtifactDoc, type ArtifactStore, type FleetStore } from '@fleet/store';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { ArtifactFetcher } from '../src/artifacts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function artifact(identifier: string, size: number): ArtifactDoc {
  const bytes = Buffer.alloc(size, identifier);
  return {
    identifier,
    compression_algorithm: 'none',
    encryption_algorithm: 'none',
    encoded_sha256: sha(bytes),
    encoded_size: size,
    decoded_sha256: sha(Buffer.concat([bytes, Buffer.from(identifier)])),
    decoded_size: size,
    created: '2025-06-01T00:00:00.000Z',
    body: bytes.toString('base64'),
  };
}

/**
 * The artifact fetcher over a real (in-memory SQLite) store whose artifact reads wait for the test
 * to release them: in-flight reads are held deterministically, without timing assumptions.
 */
describe('ArtifactFetcher', function () {
  let sqlite: SqliteFleetStore;
  let gate: { open: boolean; waiting: (() => void)[] };
  let store: FleetStore;
  const logger = createLogger({ name: 'test', level: 'silent' }, new PassThrough());

  beforeEach(() => {
    sqlite = new SqliteFleetStore({ path: ':memory:' });
    gate = { open: true, waiting: [] };
    const artifacts: ArtifactStore = {
      get: async (identifier, decodedSha256) => {
        if (!gate.open) await new Promise<void>((r) => gate.waiting.push(r));
        return sqlite.artifacts.get(identifier, decodedSha256);
      },
      put: (doc) => sqlite.artifacts.put(doc),
    };
    store = Object.assign(Object.create(sqlite) as FleetStore, { artifacts });
  });
  afterEach(async () => sqlite.close());

  const release = () => {
    gate.open = true;
    for (const r of gate.waiting.splice(0)) r();
  };

  it('When more distinct artifacts are fetched at once than maxParallelFetches, then the extra ones get ArtifactThrottleError and the others succeed', async () => {
    const docs = Array.from({ length: 3 }, (_, i) => artifact(`a${i}`, 10));
    for (const d of docs) await sqlite.artifacts.put(d);
    const fetcher = new ArtifactFetcher(store, { cacheTtlMs: 60_000, cacheMaxBytes: 1_000_000, maxParallelFetches: 2 }, logger);
    gate.open = false;
    const first = fetcher.get(docs[0]!.identifier, docs[0]!.decoded_sha256);
    const second = fetcher.get(docs[1]!.identifier, docs[1]!.decoded_sha256);
    let refused: unknown;
    await fetcher.get(docs[2]!.identifier, docs[2]!.decoded_sha256).catch((err: unknown) => (refused = err));
    expect(refused).to.be.instanceOf(ArtifactThrottleError);
    release();
    expect((await first).length).to.equal(10);
    expect((await second).length).to.equal(10);
    // Once the reads are done there is room again.
    expect((await fetcher.get(docs[2]!.identifier, docs[2]!.decoded_sha256)).length).to.equal(10);
  });

  it('When the same artifact is requested concurrently, then one store read serves them all and does not count twice against the cap', async () => {
    const doc = artifact('same', 10);
    await sqlite.artifacts.put(doc);
    const fetcher = new ArtifactFetcher(store, { cacheTtlMs: 60_000, cacheMaxBytes: 1_000_000, maxParallelFetches: 1 }, logger);
    gate.open = false;
    const all = Promise.all(Array.from({ length: 5 }, () => fetcher.get(doc.identifier, doc.decoded_sha256)));
    release();
    expect((await all).every((b) => b.length === 10)).to.equal(true);
    expect(fetcher.storeReads).to.equal(1);
  });

  it('When cached artifacts exceed cacheMaxBytes, then the least recently used is dropped; when one expires, it is read again', async () => {
    let now = 0;
    const docs = ['x', 'y', 'z'].map((id) => artifact(id, 400));
    for (const d of docs) await sqlite.artifacts.put(d);
    const fetcher = new ArtifactFetcher(store, { cacheTtlMs: 1000, cacheMaxBytes: 1000, maxParallelFetches: 8 }, logger, () => now);
    const get = (d: ArtifactDoc) => fetcher.get(d.identifier, d.decoded_sha256);
    await get(docs[0]!);
    await get(docs[1]!);
    await get(docs[0]!); // x is now the most recently used
    expect(fetcher.storeReads).to.equal(2);
    await get(docs[2]!); // 1200 bytes would not fit: y goes
    expect(fetcher.cacheBytes).to.equal(800);
    await get(docs[0]!);
    expect(fetcher.storeReads).to.equal(3);
    await get(docs[1]!);
    expect(fetcher.storeReads).to.equal(4);
    now = 5000;
    await get(docs[1]!);
    expect(fetcher.storeReads).to.equal(5);
  });
});
