import { createLogger } from '@fleet/service-kit';
import { secretPlaceholder, SqliteFleetStore, StoreUnavailableError, type FleetStore, type PolicyRevisionDoc, type SecretStore } from '@fleet/store';
import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { PolicyCache } from '../src/policy-cache';

const revision = (secretId: string, revisionIdx: number): PolicyRevisionDoc => ({
  '@timestamp': '2025-06-01T12:00:00.000Z',
  policy_id: 'p1',
  revision_idx: revisionIdx,
  coordinator_idx: 0,
  data: {
    id: 'p1',
    revision: revisionIdx,
    outputs: { default: { type: 'logstash', hosts: ['ls:5044'], secrets: { ssl: { key: { id: secretId } } } } },
    inputs: [],
    secret_references: [{ id: secretId }],
  },
});

/**
 * The policy cache over real stores: the secrets are read through a switch between a closed store
 * (every read fails as on an outage) and an open one, so the outage is a real store failure.
 */
describe('PolicyCache and policy secrets', function () {
  let open: SqliteFleetStore;
  let closed: SqliteFleetStore;
  let cache: PolicyCache;
  let reads: SecretStore;
  let secretId = '';

  beforeEach(async () => {
    open = new SqliteFleetStore({ path: ':memory:' });
    closed = new SqliteFleetStore({ path: ':memory:' });
    await closed.close();
    secretId = await open.secrets.create('PEM-PRIVATE-KEY');
    reads = closed.secrets;
    const secrets: SecretStore = { get: (ids) => reads.get(ids), create: (v) => reads.create(v), delete: (ids) => reads.delete(ids) };
    cache = new PolicyCache(Object.assign(Object.create(open) as FleetStore, { secrets }), createLogger({ name: 'test', level: 'silent' }, new PassThrough()));
  });
  afterEach(async () => open.close());

  it('When the secrets cannot be read, then the revision is not cached (no placeholder is ever served), and the next accept resolves it', async () => {
    let failure: unknown;
    await cache.accept(revision(secretId, 1)).catch((err: unknown) => (failure = err));
    expect(failure).to.be.instanceOf(StoreUnavailableError);
    expect(cache.known('p1')).to.equal(undefined);
    expect(cache.secretResolutions).to.equal(0);

    reads = open.secrets;
    const prepared = await cache.accept(revision(secretId, 1));
    const policy = (JSON.parse(prepared.dataJson) as { policy: Record<string, unknown> }).policy;
    expect(policy.outputs).to.deep.equal({ default: { type: 'logstash', hosts: ['ls:5044'], ssl: { key: 'PEM-PRIVATE-KEY' } } });
    expect(policy.secret_paths).to.deep.equal(['outputs.default.ssl.key']);
    expect(policy).to.not.have.property('secret_references');
    expect(prepared.dataJson).to.not.include(secretPlaceholder(secretId));
    expect(cache.known('p1')).to.equal(1);
  });

  it('When many accept one revision at once, then its secrets are read once and all get the same prepared policy; an older revision changes nothing', async () => {
    reads = open.secrets;
    const all = await Promise.all(Array.from({ length: 20 }, () => cache.accept(revision(secretId, 2))));
    expect(new Set(all).size).to.equal(1);
    expect(cache.secretResolutions).to.equal(1);
    expect(await cache.accept(revision(secretId, 1))).to.equal(all[0]);
    expect(await cache.get('p1')).to.equal(all[0]);
    expect(cache.secretResolutions).to.equal(1);
  });
});
