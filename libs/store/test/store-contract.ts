/**
 * The behaviour every `FleetStore` backend must show. Backends register it with
 * `defineStoreContract(name, open, reopen?)`; each test gets a fresh, empty store.
 *
 * Sequence numbers are only compared relative to each other and to the store's own checkpoints:
 * Elasticsearch starts at 0 (checkpoint -1 on an empty index) while SQLite starts at 1.
 */
import { expect } from 'chai';
import {
  DocumentConflictError,
  DocumentNotFoundError,
  StoreUnavailableError,
  AGENT_STATUSES,
  deriveAgentStatus,
  policyRevisionDocId,
} from '@fleet/store';
import type {
  ActionDoc,
  ActionResultDoc,
  AgentDoc,
  AgentPolicyRecord,
  AgentSortField,
  AgentStatus,
  EnrollmentApiKeyDoc,
  FleetStore,
  Hit,
  JsonObject,
  PolicyRevisionDoc,
} from '@fleet/store';
import { defineDeliveryContract } from './delivery-contract';
import { defineUploadStoreContract } from './upload-store-contract';
import { defineManagementStoreContract } from './management-store-contract';
import { defineRolloutStoreContract } from './rollout-store-contract';
import { defineFleetServerStoreContract } from './fleet-server-store-contract';
import { defineConsoleSessionStoreContract } from './console-session-store-contract';

/** Closes `store` and opens a new one over the same storage. */
export type ReopenStore = (store: FleetStore) => Promise<FleetStore>;

const NOW = new Date('2025-06-01T12:00:00.000Z');
const at = (offsetMs: number): string => new Date(NOW.getTime() + offsetMs).toISOString();
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

// ---- fixtures -------------------------------------------------------------------------------

/** An object nested `depth` levels deep (built without recursion): no serializer can write it. */
export function deeplyNested(depth: number): JsonObject {
  let value: JsonObject = {};
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

export function agentDoc(overrides: Partial<AgentDoc> = {}): AgentDoc {
  return {
    active: true,
    type: 'PERMANENT',
    enrolled_at: at(-HOUR),
    policy_id: 'policy-1',
    access_api_key_id: 'access-key',
    agent: { id: 'agent', version: '8.15.0' },
    local_metadata: { host: { hostname: 'host-1' } },
    tags: [],
    action_seq_no: [-1],
    ...overrides,
  };
}

export function policyDoc(policyId: string, revision: number): PolicyRevisionDoc {
  return {
    '@timestamp': at(revision * SECOND),
    policy_id: policyId,
    revision_idx: revision,
    coordinator_idx: 1,
    data: { id: policyId, revision, outputs: { default: { type: 'elasticsearch' } }, inputs: [] },
  };
}

export function actionDoc(actionId: string, agents: string[] | undefined, expiration?: string): ActionDoc {
  return {
    action_id: actionId,
    '@timestamp': at(-MINUTE),
    type: 'UPGRADE',
    ...(agents ? { agents } : {}),
    ...(expiration !== undefined ? { expiration } : {}),
    data: { version: '8.16.0' },
  };
}

function resultDoc(actionId: string, agentId: string, extra: Partial<ActionResultDoc> = {}): ActionResultDoc {
  return { '@timestamp': at(0), action_id: actionId, agent_id: agentId, ...extra };
}

function enrollmentKeyDoc(apiKeyId: string, policyId: string, createdAt: string): EnrollmentApiKeyDoc {
  return { active: true, api_key_id: apiKeyId, name: `key ${apiKeyId}`, policy_id: policyId, created_at: createdAt };
}


function agentPolicyRecord(id: string, createdAt: string, revision = 1): AgentPolicyRecord {
  return {
    id,
    name: `Policy ${id}`,
    namespace: 'default',
    revision,
    is_managed: false,
    status: 'active',
    monitoring_enabled: ['logs', 'metrics'],
    inactivity_timeout: 1_209_600,
    created_at: createdAt,
    updated_at: createdAt,
    updated_by: 'elastic',
  };
}

// ---- helpers --------------------------------------------------------------------------------

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

async function rejectsWith<E extends Error>(promise: Promise<unknown>, type: ErrorClass<E>): Promise<E> {
  let settled: unknown;
  try {
    settled = await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(type);
    return err as E;
  }
  return expect.fail(`expected a rejection with ${type.name}, got a resolution with ${JSON.stringify(settled)}`);
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const ids = <T>(hits: Hit<T>[]): string[] => hits.map((h) => h._id);
const seqs = <T>(hits: Hit<T>[]): number[] => hits.map((h) => h._seq_no);

function expectAscending(values: number[]): void {
  for (let i = 1; i < values.length; i++) {
    expect(values[i], `value #${i} of ${JSON.stringify(values)}`).to.be.greaterThan(values[i - 1] ?? -Infinity);
  }
}

function defined<T>(value: T | undefined, what: string): T {
  expect(value, what).to.not.equal(undefined);
  return value as T;
}

// ---- the contract ---------------------------------------------------------------------------

export function defineStoreContract(name: string, open: () => Promise<FleetStore>, reopen?: ReopenStore): void {
  describe(`FleetStore contract: ${name}`, function () {
    let store: FleetStore;

    beforeEach(async function () {
      store = await open();
    });

    afterEach(async function () {
      await store.close();
    });

    describe('store', function () {
      it('When the backend is open, then ping resolves', async function () {
        await store.ping();
      });

      it('When a store id is claimed, then it is recorded once: a second claim gets the first id back', async function () {
        expect(await store.identity.get()).to.equal(undefined);
        expect(await store.identity.claim('store-a')).to.equal('store-a');
        expect(await store.identity.claim('store-b')).to.equal('store-a');
        expect(await store.identity.get()).to.equal('store-a');
      });
    });

    // ---- agents -----------------------------------------------------------------------------

    describe('agents', function () {
      it('When an agent is created, then get returns the same document with its _seq_no', async function () {
        const doc = agentDoc({ tags: ['linux'], enrollment_id: 'enr-1' });
        const created = await store.agents.create('agent-1', doc);
        expect(created._id).to.equal('agent-1');
        expect(created._source).to.deep.equal(doc);

        const got = defined(await store.agents.get('agent-1'), 'agent-1');
        expect(got).to.deep.equal({ _id: 'agent-1', _seq_no: created._seq_no, _source: doc });
        expect(await store.agents.get('agent-2')).to.equal(undefined);
      });

      it('When an agent id is created twice, then the second create fails with DocumentConflictError and the first is kept', async function () {
        await store.agents.create('agent-1', agentDoc({ tags: ['first'] }));
        const err = await rejectsWith(store.agents.create('agent-1', agentDoc({ tags: ['second'] })), DocumentConflictError);
        expect(err.id).to.equal('agent-1');
        expect((await store.agents.get('agent-1'))?._source.tags).to.deep.equal(['first']);
      });

      it('When an agent is created with searchable: false, then a get by id sees it at once, an enrollment-id lookup finds it, and a duplicate conflicts', async function () {
        const doc = agentDoc({ enrollment_id: 'enr-quick' });
        const created = await store.agents.create('agent-quick', doc, { searchable: false });
        expect(created._source).to.deep.equal(doc);
        expect(await store.agents.get('agent-quick')).to.deep.equal({ _id: 'agent-quick', _seq_no: created._seq_no, _source: doc });
        expect((await store.agents.findByEnrollmentId('enr-quick'))?._id).to.equal('agent-quick');
        const err = await rejectsWith(store.agents.create('agent-quick', agentDoc({ tags: ['second'] }), { searchable: false }), DocumentConflictError);
        expect(err.id).to.equal('agent-quick');
        expect((await store.agents.get('agent-quick'))?._source.tags).to.deep.equal([]);
      });

      it('When 20 agents are created concurrently and two of them share an id, then exactly one of that pair conflicts and every other create lands with its own _seq_no', async function () {
        const ids = [...Array.from({ length: 19 }, (_, i) => `burst-${i}`), 'burst-0'];
        const outcomes = await Promise.allSettled(ids.map((id, i) => store.agents.create(id, agentDoc({ tags: [`t${i}`] }), { searchable: i % 2 === 0 ? false : undefined })));
        const failed = outcomes.filter((o) => o.status === 'rejected');
        expect(failed).to.have.length(1);
        expect((failed[0] as PromiseRejectedResult).reason).to.be.instanceOf(DocumentConflictError);
        const seqNos = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value._seq_no] : []));
        expect(new Set(seqNos).size).to.equal(19);
        for (let i = 0; i < 19; i++) expect(await store.agents.get(`burst-${i}`), `burst-${i}`).to.not.equal(undefined);
      });

      it('When a missing agent is updated or mutated, then it fails with DocumentNotFoundError and nothing is created', async function () {
        const err = await rejectsWith(store.agents.update('missing', { tags: ['x'] }), DocumentNotFoundError);
        expect(err.id).to.equal('missing');
        await rejectsWith(store.agents.mutate('missing', () => ({ tags: ['x'] })), DocumentNotFoundError);
        expect(await store.agents.get('missing')).to.equal(undefined);
      });

      it('When an agent is updated, then only the named top-level fields are replaced and null is stored as null', async function () {
        await store.agents.create(
          'agent-1',
          agentDoc({ tags: ['a', 'b'], local_metadata: { os: { platform: 'linux' }, arch: 'x64' }, unenrolled_reason: 'manual' }),
        );
        const updated = await store.agents.update('agent-1', {
          tags: ['c'],
          local_metadata: { os: { platform: 'windows' } },
          unenrolled_reason: null,
          last_checkin_status: 'online',
        });
        const expected = agentDoc({
          tags: ['c'],
          local_metadata: { os: { platform: 'windows' } },
          unenrolled_reason: null,
          last_checkin_status: 'online',
        });
        expect(updated._source).to.deep.equal(expected);

        const got = defined(await store.agents.get('agent-1'), 'agent-1');
        expect(got._source).to.deep.equal(expected);
        // Nested objects are replaced as a whole, not merged.
        expect(got._source.local_metadata).to.not.have.property('arch');
        expect(got._source).to.have.property('unenrolled_reason', null);
        expect(got._source.policy_id).to.equal('policy-1');
        expect(got._seq_no).to.equal(updated._seq_no);
      });

      it('When an update names a field with the value undefined, then the stored field is left untouched (as a JSON partial update would)', async function () {
        await store.agents.create('agent-1', agentDoc({ last_checkin_message: 'Running' }));
        const fields: Partial<AgentDoc> = { last_checkin_status: 'online', last_checkin_message: undefined };
        const updated = await store.agents.update('agent-1', fields);
        const got = defined(await store.agents.get('agent-1'), 'agent-1');
        expect(got._source.last_checkin_message).to.equal('Running');
        expect(got._source.last_checkin_status).to.equal('online');
        expect(updated._source).to.deep.equal(got._source);

        const mutated = await store.agents.mutate('agent-1', () => ({ last_checkin_message: undefined, tags: ['m'] }));
        expect(mutated._source.last_checkin_message).to.equal('Running');
        expect((await store.agents.get('agent-1'))?._source.last_checkin_message).to.equal('Running');
      });

      it('When an agent is written repeatedly, then _seq_no strictly increases on every write', async function () {
        const hits: Hit<AgentDoc>[] = [];
        hits.push(await store.agents.create('agent-1', agentDoc()));
        hits.push(await store.agents.create('agent-2', agentDoc()));
        hits.push(await store.agents.update('agent-1', { tags: ['x'] }));
        hits.push(await store.agents.update('agent-1', { tags: ['x'] }));
        hits.push(await store.agents.mutate('agent-2', () => ({ tags: ['y'] })));
        const before = seqs(hits).at(-1) ?? -Infinity;
        expect(await store.agents.updateMany([{ id: 'agent-1', fields: { tags: ['z'] } }, { id: 'agent-2', fields: { tags: ['z'] } }]))
          .to.deep.equal(['updated', 'updated']);
        const a1 = defined(await store.agents.get('agent-1'), 'agent-1');
        const a2 = defined(await store.agents.get('agent-2'), 'agent-2');
        expectAscending(seqs(hits));
        expect(a1._seq_no).to.be.greaterThan(before);
        expect(a2._seq_no).to.be.greaterThan(before);
        expect(a1._seq_no).to.not.equal(a2._seq_no);
      });

      it('When mutate runs, then it sees the current document, and returning undefined changes nothing', async function () {
        await store.agents.create('agent-1', agentDoc({ policy_revision_idx: 1 }));
        const updated = await store.agents.update('agent-1', { policy_revision_idx: 5, tags: ['seen'] });

        let seen: AgentDoc | undefined;
        const unchanged = await store.agents.mutate('agent-1', (doc) => {
          seen = structuredClone(doc);
          return undefined;
        });
        expect(seen?.policy_revision_idx).to.equal(5);
        expect(seen?.tags).to.deep.equal(['seen']);
        expect(unchanged._seq_no).to.equal(updated._seq_no);
        expect(unchanged._source).to.deep.equal(updated._source);
        expect(await store.agents.get('agent-1')).to.deep.equal(updated);

        const changed = await store.agents.mutate('agent-1', (doc) => ({ policy_revision_idx: (doc.policy_revision_idx ?? 0) + 1 }));
        expect(changed._seq_no).to.be.greaterThan(updated._seq_no);
        expect(changed._source.policy_revision_idx).to.equal(6);
        expect(changed._source.tags).to.deep.equal(['seen']);
      });

      it('When 20 mutate increments run concurrently, then no update is lost', async function () {
        await store.agents.create('agent-1', agentDoc({ policy_revision_idx: 0 }));
        const results = await Promise.all(
          Array.from({ length: 20 }, () =>
            store.agents.mutate('agent-1', (doc) => ({ policy_revision_idx: (doc.policy_revision_idx ?? 0) + 1 })),
          ),
        );
        expect((await store.agents.get('agent-1'))?._source.policy_revision_idx).to.equal(20);
        expect(new Set(seqs(results)).size).to.equal(20);
        expect(results.map((r) => r._source.policy_revision_idx).sort((a, b) => (a ?? 0) - (b ?? 0)))
          .to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 1));
      });

      it('When one item of an updateMany cannot be written (nested too deep to serialize), then it alone is rejected and the rest land', async function () {
        for (const id of ['agent-1', 'poison', 'agent-2']) await store.agents.create(id, agentDoc());
        const before = await store.agents.get('poison');
        const outcomes = await store.agents.updateMany([
          { id: 'agent-1', fields: { last_checkin: at(MINUTE) } },
          { id: 'poison', fields: { last_checkin: at(MINUTE), local_metadata: deeplyNested(100_000) } },
          { id: 'agent-2', fields: { last_checkin: at(MINUTE) } },
        ]);
        expect(outcomes).to.deep.equal(['updated', 'rejected', 'updated']);
        expect((await store.agents.get('agent-1'))?._source.last_checkin).to.equal(at(MINUTE));
        expect((await store.agents.get('agent-2'))?._source.last_checkin).to.equal(at(MINUTE));
        expect(await store.agents.get('poison')).to.deep.equal(before);
      });

      it('When updateMany names missing ids, then they report not_found and the rest are updated in the same call', async function () {
        await store.agents.create('agent-1', agentDoc());
        await store.agents.create('agent-2', agentDoc());
        const outcomes = await store.agents.updateMany([
          { id: 'agent-1', fields: { last_checkin: at(0) } },
          { id: 'ghost', fields: { last_checkin: at(0) } },
          { id: 'agent-2', fields: { last_checkin: at(-SECOND), tags: ['b'] } },
        ]);
        expect(outcomes).to.deep.equal(['updated', 'not_found', 'updated']);
        expect((await store.agents.get('agent-1'))?._source.last_checkin).to.equal(at(0));
        const a2 = defined(await store.agents.get('agent-2'), 'agent-2');
        expect(a2._source.last_checkin).to.equal(at(-SECOND));
        expect(a2._source.tags).to.deep.equal(['b']);
        expect(await store.agents.get('ghost')).to.equal(undefined);
        expect(await store.agents.updateMany([])).to.deep.equal([]);
      });

      it('When updateMany carries a status older than the stored last_checkin (a late flush from another replica), then the newer status is kept', async function () {
        await store.agents.create('agent-1', agentDoc());
        await store.agents.create('agent-2', agentDoc());
        await store.agents.updateMany([
          { id: 'agent-1', fields: { last_checkin: at(0), last_checkin_message: 'newer', action_seq_no: [7] } },
          { id: 'agent-2', fields: { last_checkin: at(0), last_checkin_message: 'first' } },
        ]);
        const outcomes = await store.agents.updateMany([
          { id: 'agent-1', fields: { last_checkin: at(-5 * SECOND), last_checkin_message: 'older', action_seq_no: [3] } },
          // The same second is not older: applied, the last flush wins.
          { id: 'agent-2', fields: { last_checkin: at(0), last_checkin_message: 'second' } },
        ]);
        expect(outcomes).to.deep.equal(['updated', 'updated']);
        const a1 = defined(await store.agents.get('agent-1'), 'agent-1');
        expect(a1._source).to.include({ last_checkin: at(0), last_checkin_message: 'newer' });
        expect(a1._source.action_seq_no).to.deep.equal([7]);
        expect((await store.agents.get('agent-2'))?._source.last_checkin_message).to.equal('second');
      });

      it('When many agents are mutated at once and one does not exist, then only that one fails', async function () {
        await Promise.all(Array.from({ length: 30 }, (_, i) => store.agents.create(`many-${i}`, agentDoc({ policy_revision_idx: i }))));
        const outcomes = await Promise.allSettled([
          ...Array.from({ length: 30 }, (_, i) => store.agents.mutate(`many-${i}`, (doc) => ({ policy_revision_idx: (doc.policy_revision_idx ?? 0) + 100 }))),
          store.agents.update('many-missing', { tags: ['x'] }),
        ]);
        expect(outcomes.slice(0, 30).every((o) => o.status === 'fulfilled')).to.equal(true);
        const missing = outcomes[30];
        expect(missing?.status).to.equal('rejected');
        expect(missing?.status === 'rejected' ? missing.reason : undefined).to.be.instanceOf(DocumentNotFoundError);
        for (let i = 0; i < 30; i++) expect((await store.agents.get(`many-${i}`))?._source.policy_revision_idx).to.equal(i + 100);
      });

      it('When an agent is deactivated, then the lookup by access API key id sees it at once', async function () {
        await store.agents.create('agent-1', agentDoc({ access_api_key_id: 'key-1', active: true }));
        expect((await store.agents.findByAccessApiKeyId('key-1'))?._source.active).to.equal(true);
        await store.agents.update('agent-1', { active: false });
        expect((await store.agents.findByAccessApiKeyId('key-1'))?._source.active).to.equal(false);
      });

      it('When agents are looked up by access API key id or enrollment id, then the matching agent is returned', async function () {
        await store.agents.create('agent-1', agentDoc({ access_api_key_id: 'key-1', enrollment_id: 'enr-1' }));
        await store.agents.create('agent-2', agentDoc({ access_api_key_id: 'key-2', enrollment_id: 'enr-2' }));
        expect((await store.agents.findByAccessApiKeyId('key-2'))?._id).to.equal('agent-2');
        expect((await store.agents.findByAccessApiKeyId('key-1'))?._id).to.equal('agent-1');
        expect((await store.agents.findByEnrollmentId('enr-1'))?._id).to.equal('agent-1');
        expect((await store.agents.findByEnrollmentId('enr-2'))?._id).to.equal('agent-2');
        expect(await store.agents.findByAccessApiKeyId('key-3')).to.equal(undefined);
        expect(await store.agents.findByEnrollmentId('enr-3')).to.equal(undefined);

        // A key rotation is visible to the lookup.
        await store.agents.update('agent-1', { access_api_key_id: 'key-1b' });
        expect(await store.agents.findByAccessApiKeyId('key-1')).to.equal(undefined);
        expect((await store.agents.findByAccessApiKeyId('key-1b'))?._id).to.equal('agent-1');
      });

      it('When agents are queried by policyIds, then only agents of those policies are returned', async function () {
        await store.agents.create('p1-a', agentDoc({ policy_id: 'policy-1' }));
        await store.agents.create('p2-a', agentDoc({ policy_id: 'policy-2' }));
        await store.agents.create('p3-a', agentDoc({ policy_id: 'policy-3' }));
        const page = await store.agents.query({ page: 1, perPage: 20, now: NOW, policyIds: ['policy-1', 'policy-2'] });
        expect(page.total).to.equal(2);
        expect(ids(page.items).sort()).to.deep.equal(['p1-a', 'p2-a']);
      });

      it('When agents are queried by tags, then only agents carrying the tag are returned', async function () {
        await store.agents.create('blue', agentDoc({ tags: ['blue', 'linux'] }));
        await store.agents.create('red', agentDoc({ tags: ['red'] }));
        await store.agents.create('untagged', agentDoc({ tags: [] }));
        const page = await store.agents.query({ page: 1, perPage: 20, now: NOW, tags: ['blue'] });
        expect(page.total).to.equal(1);
        expect(ids(page.items)).to.deep.equal(['blue']);
        const all = await store.agents.query({ page: 1, perPage: 20, now: NOW });
        expect(ids(all.items).sort()).to.deep.equal(['blue', 'red', 'untagged']);
      });

      it('When agents are queried, then inactive agents are excluded unless showInactive is set', async function () {
        await store.agents.create('active', agentDoc());
        await store.agents.create('gone', agentDoc({ active: false, unenrolled_at: at(-MINUTE) }));
        const visible = await store.agents.query({ page: 1, perPage: 20, now: NOW });
        expect(visible.total).to.equal(1);
        expect(ids(visible.items)).to.deep.equal(['active']);
        const everything = await store.agents.query({ page: 1, perPage: 20, now: NOW, showInactive: true });
        expect(everything.total).to.equal(2);
        expect(ids(everything.items).sort()).to.deep.equal(['active', 'gone']);
      });

      it('When agents are queried page by page, then total counts all matches and pages are disjoint and complete', async function () {
        const all = Array.from({ length: 5 }, (_, i) => `agent-${i}`);
        for (const [i, id] of all.entries()) await store.agents.create(id, agentDoc({ enrolled_at: at(-i * MINUTE) }));
        const seen: string[] = [];
        const sizes: number[] = [];
        for (let page = 1; page <= 4; page++) {
          const result = await store.agents.query({ page, perPage: 2, now: NOW });
          expect(result.total).to.equal(5);
          sizes.push(result.items.length);
          seen.push(...ids(result.items));
        }
        expect(sizes).to.deep.equal([2, 2, 1, 0]);
        expect(seen.slice().sort()).to.deep.equal(all);
      });

      it('When agents are queried by status, then statuses are derived like deriveAgentStatus with the latest policy revision', async function () {
        await store.policies.create(policyDoc('policy-1', 2));
        await store.policies.create(policyDoc('policy-1', 3));
        const agents: Record<string, AgentDoc> = {
          online: agentDoc({ last_checkin: at(-10 * SECOND), policy_revision_idx: 3 }),
          behind: agentDoc({ last_checkin: at(-10 * SECOND), policy_revision_idx: 2 }),
          offline: agentDoc({ last_checkin: at(-10 * MINUTE), policy_revision_idx: 3 }),
          unenrolled: agentDoc({ active: false, unenrolled_at: at(-HOUR), last_checkin: at(-2 * HOUR), policy_revision_idx: 3 }),
          enrolling: agentDoc({ policy_revision_idx: null }),
          degraded: agentDoc({ last_checkin: at(-5 * SECOND), last_checkin_status: 'degraded', policy_revision_idx: 3 }),
        };
        const expected: Record<string, AgentStatus> = {
          online: 'online',
          behind: 'updating',
          offline: 'offline',
          unenrolled: 'unenrolled',
          enrolling: 'enrolling',
          degraded: 'degraded',
        };
        for (const [id, doc] of Object.entries(agents)) {
          await store.agents.create(id, doc);
          expect(deriveAgentStatus(doc, { now: NOW, latestPolicyRevision: 3 }), id).to.equal(expected[id]);
        }
        for (const status of ['online', 'updating', 'offline', 'unenrolled', 'enrolling', 'degraded'] as const) {
          const page = await store.agents.query({ page: 1, perPage: 20, now: NOW, statuses: [status], showInactive: true });
          const want = Object.keys(expected).filter((id) => expected[id] === status);
          expect(ids(page.items).sort(), status).to.deep.equal(want);
          expect(page.total, status).to.equal(want.length);
        }
        const several = await store.agents.query({ page: 1, perPage: 20, now: NOW, statuses: ['online', 'offline'] });
        expect(ids(several.items).sort()).to.deep.equal(['offline', 'online']);
        // The evaluation time comes from the query: an hour later, every agent that checked in is offline.
        const later = await store.agents.query({ page: 1, perPage: 20, now: new Date(NOW.getTime() + HOUR), statuses: ['offline'] });
        expect(ids(later.items).sort()).to.deep.equal(['behind', 'degraded', 'offline', 'online']);
      });

      it('When agents are counted by policy, then only that policy\'s agents are counted', async function () {
        await store.agents.create('a', agentDoc({ policy_id: 'policy-1' }));
        await store.agents.create('b', agentDoc({ policy_id: 'policy-1' }));
        await store.agents.create('c', agentDoc({ policy_id: 'policy-2' }));
        expect(await store.agents.countByPolicy('policy-1')).to.equal(2);
        expect(await store.agents.countByPolicy('policy-2')).to.equal(1);
        expect(await store.agents.countByPolicy('policy-9')).to.equal(0);
        await store.agents.update('c', { policy_id: 'policy-1' });
        expect(await store.agents.countByPolicy('policy-1')).to.equal(3);
        expect(await store.agents.countByPolicy('policy-2')).to.equal(0);
      });

      it('When silent agents are listed, then only active agents of that policy silent since before the cutoff come back, oldest first', async function () {
        await store.agents.create('fresh', agentDoc({ last_checkin: at(-MINUTE) }));
        await store.agents.create('old', agentDoc({ last_checkin: at(-3 * HOUR) }));
        await store.agents.create('older', agentDoc({ last_checkin: at(-5 * HOUR) }));
        await store.agents.create('never', agentDoc({ enrolled_at: at(-4 * HOUR) }));
        await store.agents.create('never-recent', agentDoc({ enrolled_at: at(-MINUTE) }));
        await store.agents.create('inactive', agentDoc({ active: false, last_checkin: at(-9 * HOUR) }));
        await store.agents.create('elsewhere', agentDoc({ policy_id: 'policy-2', last_checkin: at(-9 * HOUR) }));
        const silent = await store.agents.listSilent({ policyId: 'policy-1', before: new Date(at(-2 * HOUR)), limit: 10 });
        expect(ids(silent)).to.have.members(['older', 'never', 'old']);
        expect(ids(silent).at(-1)).to.equal('old');
        expect(await store.agents.listSilent({ policyId: 'policy-1', before: new Date(at(-2 * HOUR)), limit: 2 })).to.have.length(2);
        expect(await store.agents.listSilent({ policyId: 'policy-9', before: new Date(), limit: 10 })).to.deep.equal([]);
      });

      it('When an agent is deleted, then it is gone, lookups miss it, and a second delete reports false', async function () {
        await store.agents.create('agent-1', agentDoc({ access_api_key_id: 'key-1', enrollment_id: 'enr-1' }));
        await store.agents.create('agent-2', agentDoc());
        expect(await store.agents.delete('agent-1')).to.equal(true);
        expect(await store.agents.get('agent-1')).to.equal(undefined);
        expect(await store.agents.findByAccessApiKeyId('key-1')).to.equal(undefined);
        expect(await store.agents.findByEnrollmentId('enr-1')).to.equal(undefined);
        expect(await store.agents.delete('agent-1')).to.equal(false);
        expect(await store.agents.get('agent-2')).to.not.equal(undefined);
        expect(await store.agents.countByPolicy('policy-1')).to.equal(1);
      });
    });

    // ---- policies ---------------------------------------------------------------------------

    describe('policies', function () {
      it('When a revision is created, then its id is policyRevisionDocId(policy_id, revision_idx)', async function () {
        const doc = policyDoc('policy-1', 1);
        const hit = await store.policies.create(doc);
        expect(hit._id).to.equal(policyRevisionDocId('policy-1', 1));
        expect(hit._source).to.deep.equal(doc);
        expect(await store.policies.latest('policy-1')).to.deep.equal(hit);
        expect(await store.policies.latest('policy-2')).to.equal(undefined);
      });

      it('When the same revision is created twice, then the second fails with DocumentConflictError', async function () {
        const first = await store.policies.create(policyDoc('policy-1', 1));
        const err = await rejectsWith(store.policies.create(policyDoc('policy-1', 1)), DocumentConflictError);
        expect(err.id).to.equal(policyRevisionDocId('policy-1', 1));
        expect(await store.policies.latest('policy-1')).to.deep.equal(first);
        // Another policy with the same revision number is no conflict.
        await store.policies.create(policyDoc('policy-2', 1));
      });

      it('When a lower revision is written after a higher one, then latest still returns the highest revision_idx', async function () {
        await store.policies.create(policyDoc('policy-1', 1));
        const highest = await store.policies.create(policyDoc('policy-1', 5));
        const stale = await store.policies.create(policyDoc('policy-1', 3));
        await store.policies.create(policyDoc('policy-2', 9));
        expect(stale._seq_no).to.be.greaterThan(highest._seq_no);
        const latest = defined(await store.policies.latest('policy-1'), 'latest');
        expect(latest._source.revision_idx).to.equal(5);
        expect(latest).to.deep.equal(highest);
      });

      it('When changesSince is called, then it returns documents with _seq_no above the cursor in ascending order, up to limit, and checkpoint is the last _seq_no', async function () {
        const start = await store.policies.checkpoint();
        const created: Hit<PolicyRevisionDoc>[] = [];
        for (const [policy, rev] of [['p1', 1], ['p2', 1], ['p1', 2], ['p3', 7], ['p2', 2]] as const) {
          created.push(await store.policies.create(policyDoc(policy, rev)));
        }
        expectAscending([start, ...seqs(created)]);
        const lastSeq = created.at(-1)?._seq_no;
        expect(await store.policies.checkpoint()).to.equal(lastSeq);

        const all = await store.policies.changesSince(start, 100);
        expect(all).to.deep.equal(created);
        const second = defined(created[1], 'second');
        const limited = await store.policies.changesSince(second._seq_no, 2);
        expect(limited).to.deep.equal(created.slice(2, 4));
        expect(await store.policies.changesSince(lastSeq ?? 0, 10)).to.deep.equal([]);
      });

      it('When paging through changesSince with limit 2 over 5 documents, then every document is seen exactly once', async function () {
        let cursor = await store.policies.checkpoint();
        const created: Hit<PolicyRevisionDoc>[] = [];
        for (let rev = 1; rev <= 5; rev++) created.push(await store.policies.create(policyDoc('policy-1', rev)));
        const seen: string[] = [];
        const batchSizes: number[] = [];
        for (;;) {
          const batch = await store.policies.changesSince(cursor, 2);
          batchSizes.push(batch.length);
          if (batch.length === 0) break;
          expect(batch[0]?._seq_no).to.be.greaterThan(cursor);
          expectAscending(seqs(batch));
          seen.push(...ids(batch));
          cursor = batch.at(-1)?._seq_no ?? cursor;
        }
        expect(batchSizes).to.deep.equal([2, 2, 1, 0]);
        expect(seen).to.deep.equal(ids(created));
        expect(cursor).to.equal(await store.policies.checkpoint());
      });
    });

    // ---- the checkpoint race ----------------------------------------------------------------

    describe('checkpoint race', function () {
      it('When 50 concurrent action creates interleave with changesSince reads, then every action is seen exactly once and none is skipped', async function () {
        const start = await store.actions.checkpoint();
        let cursor = start;
        const seenCount = new Map<string, number>();
        const seenSeq = new Map<string, number>();
        let writersDone = false;
        let reads = 0;

        const reader = (async () => {
          for (;;) {
            const finished = writersDone; // every write has resolved before this read starts
            const batch = await store.actions.changesSince(cursor, 7);
            reads += 1;
            for (const hit of batch) {
              expect(hit._seq_no, 'a change at or below the cursor').to.be.greaterThan(cursor);
              cursor = hit._seq_no;
              seenCount.set(hit._id, (seenCount.get(hit._id) ?? 0) + 1);
              seenSeq.set(hit._id, hit._seq_no);
            }
            if (finished && batch.length === 0) return;
            await tick();
          }
        })();

        const writers = Array.from({ length: 50 }, async (_, i) => {
          await sleep(i % 7);
          if (i % 3 === 0) await tick();
          return store.actions.create(actionDoc(`race-${i}`, [`agent-${i % 4}`], at(HOUR)));
        });
        let created: Hit<ActionDoc>[];
        try {
          created = await Promise.all(writers);
        } finally {
          writersDone = true;
        }
        await reader;

        expect(reads).to.be.greaterThan(2);
        expect(seenCount.size).to.equal(50);
        for (const hit of created) {
          expect(seenCount.get(hit._id), hit._id).to.equal(1);
          expect(seenSeq.get(hit._id), hit._id).to.equal(hit._seq_no);
        }
        expect(new Set(seqs(created)).size).to.equal(50);
        expect(cursor).to.equal(await store.actions.checkpoint());
        expect(cursor).to.equal(Math.max(...seqs(created)));
      });
    });

    // ---- actions ----------------------------------------------------------------------------

    describe('actions', function () {
      it('When nothing was ever written to actions, then queries return [] and checkpoint is a number', async function () {
        const checkpoint = await store.actions.checkpoint();
        expect(checkpoint).to.be.a('number');
        expect(Number.isInteger(checkpoint)).to.equal(true);
        expect(await store.actions.pendingFor({ agentId: 'agent-1', afterSeqNo: -1, now: NOW, limit: 10 })).to.deep.equal([]);
        expect(await store.actions.changesSince(-1, 10)).to.deep.equal([]);
        expect(await store.actions.get('nothing')).to.equal(undefined);
        expect(await store.actions.findByActionId('nothing')).to.equal(undefined);
        expect(await store.actions.deleteExpiredBefore(NOW)).to.equal(0);
        expect(await store.policies.checkpoint()).to.be.a('number');
        expect(await store.policies.changesSince(-1, 10)).to.deep.equal([]);
        expect(await store.policies.latest('policy-1')).to.equal(undefined);
      });

      it('When pendingFor is called, then it returns only unexpired actions addressed to the agent above afterSeqNo, ascending and limited', async function () {
        const start = await store.actions.checkpoint();
        const mine1 = await store.actions.create(actionDoc('mine-1', ['agent-a'], at(HOUR)));
        await store.actions.create(actionDoc('other-agent', ['agent-b'], at(HOUR)));
        await store.actions.create(actionDoc('expired', ['agent-a', 'agent-b'], at(-HOUR)));
        await store.actions.create(actionDoc('no-expiration', ['agent-a']));
        await store.actions.create(actionDoc('expires-now', ['agent-a'], NOW.toISOString()));
        await store.actions.create(actionDoc('no-agents', undefined, at(HOUR)));
        const mine2 = await store.actions.create(actionDoc('mine-2', ['agent-b', 'agent-a'], at(HOUR)));
        const mine3 = await store.actions.create(actionDoc('mine-3', ['agent-a'], at(2 * HOUR)));

        const query = { agentId: 'agent-a', afterSeqNo: start, now: NOW, limit: 10 };
        const pending = await store.actions.pendingFor(query);
        expect(ids(pending)).to.deep.equal(ids([mine1, mine2, mine3]));
        expect(pending).to.deep.equal([mine1, mine2, mine3]);

        expect(await store.actions.pendingFor({ ...query, limit: 2 })).to.deep.equal([mine1, mine2]);
        expect(await store.actions.pendingFor({ ...query, afterSeqNo: mine1._seq_no })).to.deep.equal([mine2, mine3]);
        expect(await store.actions.pendingFor({ ...query, maxSeqNo: mine2._seq_no })).to.deep.equal([mine1, mine2]);
        expect(await store.actions.pendingFor({ ...query, afterSeqNo: mine3._seq_no })).to.deep.equal([]);
        expect(await store.actions.pendingFor({ ...query, agentId: 'agent-c' })).to.deep.equal([]);

        // Earlier, the expired action was still pending; the action without expiration never is.
        const earlier = await store.actions.pendingFor({ ...query, now: new Date(NOW.getTime() - 2 * HOUR) });
        expect(earlier.map((h) => h._source.action_id)).to.deep.equal(['mine-1', 'expired', 'expires-now', 'mine-2', 'mine-3']);
      });

      it('When maxSeqNo is omitted, then pendingFor is bounded by the current checkpoint', async function () {
        const start = await store.actions.checkpoint();
        const a = await store.actions.create(actionDoc('a', ['agent-a'], at(HOUR)));
        const checkpoint = await store.actions.checkpoint();
        expect(checkpoint).to.equal(a._seq_no);
        const pending = await store.actions.pendingFor({ agentId: 'agent-a', afterSeqNo: start, now: NOW, limit: 10 });
        expect(seqs(pending).every((s) => s > start && s <= checkpoint)).to.equal(true);
        expect(ids(pending)).to.deep.equal([a._id]);
      });

      it('When an action is fetched by doc id, then get returns it, with the given id when one was passed', async function () {
        const generated = await store.actions.create(actionDoc('act-1', ['agent-a'], at(HOUR)));
        expect(generated._id).to.be.a('string').and.not.equal('');
        expect(await store.actions.get(generated._id)).to.deep.equal(generated);

        const named = await store.actions.create(actionDoc('act-2', ['agent-a'], at(HOUR)), 'doc-2');
        expect(named._id).to.equal('doc-2');
        expect(await store.actions.get('doc-2')).to.deep.equal(named);
        await rejectsWith(store.actions.create(actionDoc('act-3', ['agent-a']), 'doc-2'), DocumentConflictError);
        expect((await store.actions.get('doc-2'))?._source.action_id).to.equal('act-2');
      });

      it('When several documents share an action_id, then findByActionId returns the one with the lowest _seq_no', async function () {
        const first = await store.actions.create(actionDoc('shared', ['agent-a'], at(HOUR)), 'zz-first');
        await store.actions.create(actionDoc('other', ['agent-a'], at(HOUR)), 'aa-other');
        const second = await store.actions.create(actionDoc('shared', ['agent-b'], at(HOUR)), 'aa-second');
        expect(second._seq_no).to.be.greaterThan(first._seq_no);
        expect(await store.actions.findByActionId('shared')).to.deep.equal(first);
        expect((await store.actions.findByActionId('other'))?._id).to.equal('aa-other');
        expect(await store.actions.findByActionId('unknown')).to.equal(undefined);
      });

      it('When an action is split over documents, then findForAgent returns the first one addressed to that agent, and nothing for others', async function () {
        const first = await store.actions.create(actionDoc('split', ['agent-a'], at(HOUR)), 'split-1');
        const second = await store.actions.create(actionDoc('split', ['agent-b', 'agent-c'], at(HOUR)), 'split-2');
        expect(await store.actions.findForAgent('split', 'agent-a')).to.deep.equal(first);
        expect(await store.actions.findForAgent('split', 'agent-c')).to.deep.equal(second);
        expect(await store.actions.findForAgent('split', 'agent-z')).to.equal(undefined);
        expect(await store.actions.findForAgent('unknown', 'agent-a')).to.equal(undefined);
      });

      it('When deleteExpiredBefore runs, then only expired actions are removed and they no longer appear in get or pendingFor', async function () {
        const start = await store.actions.checkpoint();
        const expired1 = await store.actions.create(actionDoc('expired-1', ['agent-a'], at(-2 * HOUR)));
        const live = await store.actions.create(actionDoc('live', ['agent-a'], at(HOUR)));
        const forever = await store.actions.create(actionDoc('forever', ['agent-a']));
        const expired2 = await store.actions.create(actionDoc('expired-2', ['agent-a', 'agent-b'], at(-MINUTE)));

        const earlier = new Date(NOW.getTime() - 3 * HOUR);
        const query = { agentId: 'agent-a', afterSeqNo: start, now: earlier, limit: 10 };
        expect(ids(await store.actions.pendingFor(query))).to.deep.equal(ids([expired1, live, expired2]));

        expect(await store.actions.deleteExpiredBefore(NOW)).to.equal(2);
        expect(await store.actions.get(expired1._id)).to.equal(undefined);
        expect(await store.actions.get(expired2._id)).to.equal(undefined);
        expect(await store.actions.findByActionId('expired-1')).to.equal(undefined);
        expect(await store.actions.get(live._id)).to.deep.equal(live);
        expect(await store.actions.get(forever._id)).to.deep.equal(forever);
        expect(ids(await store.actions.pendingFor(query))).to.deep.equal([live._id]);
        expect(await store.actions.pendingFor({ ...query, agentId: 'agent-b' })).to.deep.equal([]);
        expect(await store.actions.deleteExpiredBefore(NOW)).to.equal(0);
      });

      it('When actions are created, then changesSince and checkpoint follow their _seq_no', async function () {
        const start = await store.actions.checkpoint();
        const a = await store.actions.create(actionDoc('a', ['agent-a'], at(HOUR)));
        const b = await store.actions.create(actionDoc('b', ['agent-b']));
        expect(b._seq_no).to.be.greaterThan(a._seq_no);
        expect(a._seq_no).to.be.greaterThan(start);
        expect(await store.actions.checkpoint()).to.equal(b._seq_no);
        expect(await store.actions.changesSince(start, 10)).to.deep.equal([a, b]);
        expect(await store.actions.changesSince(a._seq_no, 10)).to.deep.equal([b]);
      });
    });

    // ---- action results ---------------------------------------------------------------------

    describe('actionResults', function () {
      it('When a result for the same action and agent arrives in a later call, then it reports exists and the first document is unchanged', async function () {
        expect(await store.actionResults.createMany([resultDoc('act-1', 'agent-a', { data: { n: 1 } })])).to.deep.equal(['created']);
        const outcomes = await store.actionResults.createMany([
          resultDoc('act-1', 'agent-a', { error: 'second ack', data: { n: 2 } }),
          resultDoc('act-1', 'agent-b'),
        ]);
        expect(outcomes).to.deep.equal(['exists', 'created']);
        const results = await store.actionResults.listByActionId('act-1');
        expect(ids(results).sort()).to.deep.equal(['act-1:agent-a', 'act-1:agent-b']);
        const first = results.find((r) => r._id === 'act-1:agent-a');
        expect(first?._source).to.deep.equal(resultDoc('act-1', 'agent-a', { data: { n: 1 } }));
      });

      it('When one result of a createMany cannot be written (nested too deep), then it alone is rejected and the rest are created', async function () {
        const outcomes = await store.actionResults.createMany([
          resultDoc('act-1', 'agent-a'),
          resultDoc('act-1', 'agent-b', { data: deeplyNested(100_000) }),
          resultDoc('act-1', 'agent-c'),
        ]);
        expect(outcomes).to.deep.equal(['created', 'rejected', 'created']);
        expect(ids(await store.actionResults.listByActionId('act-1')).sort()).to.deep.equal(['act-1:agent-a', 'act-1:agent-c']);
      });

      it('When one call carries the same action and agent twice, then the first is created and the second reports exists', async function () {
        const outcomes = await store.actionResults.createMany([
          resultDoc('act-1', 'agent-a', { data: { n: 1 } }),
          resultDoc('act-1', 'agent-a', { data: { n: 2 } }),
          resultDoc('act-2', 'agent-a'),
        ]);
        expect(outcomes).to.deep.equal(['created', 'exists', 'created']);
        const results = await store.actionResults.listByActionId('act-1');
        expect(results).to.have.length(1);
        expect(results[0]?._source.data).to.deep.equal({ n: 1 });
        expect(await store.actionResults.createMany([])).to.deep.equal([]);
      });

      it('When results are listed by action id, then only that action\'s results are returned', async function () {
        await store.actionResults.createMany([resultDoc('act-1', 'agent-a'), resultDoc('act-2', 'agent-a')]);
        await store.actionResults.createMany([resultDoc('act-1', 'agent-b')]);
        const results = await store.actionResults.listByActionId('act-1');
        expect(ids(results).sort()).to.deep.equal(['act-1:agent-a', 'act-1:agent-b']);
        expect(results.every((r) => r._source.action_id === 'act-1')).to.equal(true);
        expect(await store.actionResults.listByActionId('act-3')).to.deep.equal([]);
      });

      it('When asked which actions an agent acknowledged, then only actions with a result of that agent are named', async function () {
        await store.actionResults.createMany([resultDoc('act-1', 'agent-a'), resultDoc('act-2', 'agent-b')]);
        const acked = async () => [...(await store.actionResults.acknowledgedBy('agent-a', ['act-1', 'act-2', 'act-3']))].sort();
        // The backend may expose a new result after its refresh interval.
        const deadline = Date.now() + 5000;
        while ((await acked()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        expect(await acked()).to.deep.equal(['act-1']);
        expect([...(await store.actionResults.acknowledgedBy('agent-b', ['act-1']))]).to.deep.equal([]);
        expect([...(await store.actionResults.acknowledgedBy('agent-a', []))]).to.deep.equal([]);
      });
    });

    // ---- console reads (sorting, status counts, tags, revisions, action history) -------------

    describe('console reads', function () {
      const sorted = async (): Promise<void> => {
        await store.agents.create('a', agentDoc({ agent: { id: 'a', version: '8.15.0' }, enrolled_at: at(-3 * HOUR), last_checkin: at(-2 * MINUTE), policy_id: 'p-b', local_metadata: { host: { hostname: 'charlie' }, elastic: { agent: { version: '8.15.0' } } } }));
        await store.agents.create('b', agentDoc({ agent: { id: 'b', version: '8.16.0' }, enrolled_at: at(-2 * HOUR), last_checkin: at(-30 * SECOND), policy_id: 'p-a', local_metadata: { host: { hostname: 'alpha' }, elastic: { agent: { version: '8.16.0' } } } }));
        await store.agents.create('c', agentDoc({ agent: { id: 'c', version: '8.14.0' }, enrolled_at: at(-1 * HOUR), policy_id: 'p-c', local_metadata: {} }));
        await store.agents.create('d', agentDoc({ agent: { id: 'd', version: '8.17.0' }, enrolled_at: at(-4 * HOUR), last_checkin: at(-6 * MINUTE), policy_id: 'p-a', local_metadata: { host: { hostname: 'bravo' }, elastic: { agent: { version: '8.17.0' } } } }));
      };

      it('When agents are sorted by each sort field, then both orders come back with missing values last and the default is enrolled_at descending', async function () {
        await sorted();
        const order = async (field: AgentSortField, dir: 'asc' | 'desc') =>
          ids((await store.agents.query({ page: 1, perPage: 20, now: NOW, sort: { field, order: dir } })).items);
        expect(ids((await store.agents.query({ page: 1, perPage: 20, now: NOW })).items)).to.deep.equal(['c', 'b', 'a', 'd']);
        expect(await order('enrolled_at', 'asc')).to.deep.equal(['d', 'a', 'b', 'c']);
        expect(await order('last_checkin', 'desc')).to.deep.equal(['b', 'a', 'd', 'c']);
        expect(await order('last_checkin', 'asc')).to.deep.equal(['d', 'a', 'b', 'c']);
        expect(await order('local_metadata.host.hostname', 'asc')).to.deep.equal(['b', 'd', 'a', 'c']);
        expect(await order('local_metadata.host.hostname', 'desc')).to.deep.equal(['a', 'd', 'b', 'c']);
        expect(await order('local_metadata.elastic.agent.version', 'desc')).to.deep.equal(['d', 'b', 'a', 'c']);
        expect(await order('policy_id', 'asc')).to.deep.equal(['b', 'd', 'a', 'c']);
        // Pages follow the order; a status filter keeps it.
        const second = await store.agents.query({ page: 2, perPage: 2, now: NOW, sort: { field: 'policy_id', order: 'desc' } });
        expect(ids(second.items)).to.deep.equal(['b', 'd']);
        expect(second.total).to.equal(4);
        const offline = await store.agents.query({ page: 1, perPage: 20, now: NOW, statuses: ['updating', 'enrolling'], sort: { field: 'local_metadata.host.hostname', order: 'desc' } });
        expect(ids(offline.items)).to.deep.equal(['a', 'b', 'c']);
      });

      it('When agents are counted by status, then every derived status is counted as deriveAgentStatus gives it, per scope', async function () {
        await store.agentPolicies.create({ ...agentPolicyRecord('timeout', at(-HOUR)), inactivity_timeout: 600 });
        // A second policy with the same timeout and latest revision (backends may group them).
        await store.agentPolicies.create({ ...agentPolicyRecord('timeout-b', at(-HOUR)), inactivity_timeout: 600 });
        await store.agentPolicies.create({ ...agentPolicyRecord('p', at(-HOUR)), inactivity_timeout: 0 });
        await store.policies.create(policyDoc('p', 2));
        await store.policies.create(policyDoc('timeout', 1));
        await store.policies.create(policyDoc('timeout-b', 1));
        const recent = at(-10 * SECOND);
        const docs: Record<string, AgentDoc> = {
          online: agentDoc({ policy_id: 'p', last_checkin: recent, policy_revision_idx: 2, tags: ['x'] }),
          online2: agentDoc({ policy_id: 'timeout', last_checkin: recent, policy_revision_idx: 1 }),
          outdated: agentDoc({ policy_id: 'p', last_checkin: recent, policy_revision_idx: 1 }),
          norevision: agentDoc({ policy_id: 'p', last_checkin: recent }),
          offline: agentDoc({ policy_id: 'p', last_checkin: at(-6 * MINUTE), policy_revision_idx: 2 }),
          timedout: agentDoc({ policy_id: 'timeout', last_checkin: at(-11 * MINUTE), policy_revision_idx: 1 }),
          timedoutB: agentDoc({ policy_id: 'timeout-b', last_checkin: at(-11 * MINUTE), policy_revision_idx: 1 }),
          behindB: agentDoc({ policy_id: 'timeout-b', last_checkin: recent, policy_revision_idx: 0 }),
          enrolling: agentDoc({ policy_id: 'p', tags: ['x'] }),
          upgrading: agentDoc({ policy_id: 'p', last_checkin: recent, policy_revision_idx: 2, upgrade_started_at: at(-MINUTE), upgraded_at: null }),
          upgraded: agentDoc({ policy_id: 'p', last_checkin: recent, policy_revision_idx: 2, upgrade_started_at: at(-HOUR), upgraded_at: at(-MINUTE) }),
          leaving: agentDoc({ policy_id: 'p', last_checkin: recent, policy_revision_idx: 2, unenrollment_started_at: at(-MINUTE) }),
          error: agentDoc({ policy_id: 'p', last_checkin: recent, policy_revision_idx: 2, last_checkin_status: 'ERROR' }),
          degraded: agentDoc({ policy_id: 'p', last_checkin: recent, policy_revision_idx: 2, last_checkin_status: 'degraded' }),
          orphaned: agentDoc({ policy_id: 'p', last_checkin: recent, audit_unenrolled_reason: 'orphaned' }),
          uninstalled: agentDoc({ policy_id: 'p', last_checkin: recent, audit_unenrolled_reason: 'uninstall' }),
          unenrolled: agentDoc({ policy_id: 'p', active: false, unenrolled_at: at(-MINUTE) }),
          inactive: agentDoc({ policy_id: 'timeout', active: false }),
        };
        const contexts: Record<string, { latestPolicyRevision: number; inactivityTimeoutSeconds: number }> = {
          p: { latestPolicyRevision: 2, inactivityTimeoutSeconds: 0 },
          timeout: { latestPolicyRevision: 1, inactivityTimeoutSeconds: 600 },
          'timeout-b': { latestPolicyRevision: 1, inactivityTimeoutSeconds: 600 },
        };
        const want = (filter: (id: string, doc: AgentDoc) => boolean) => {
          const counts = Object.fromEntries(AGENT_STATUSES.map((s) => [s, 0])) as Record<AgentStatus, number>;
          for (const [id, doc] of Object.entries(docs)) if (filter(id, doc)) counts[deriveAgentStatus(doc, { now: NOW, ...contexts[doc.policy_id] })] += 1;
          return counts;
        };
        for (const [id, doc] of Object.entries(docs)) await store.agents.create(id, { ...doc, agent: { id, version: '8.15.0' } });
        const everything = await store.agents.countByStatus({ now: NOW, showInactive: true });
        expect(everything).to.deep.equal(want(() => true));
        // Every status of the derivation is reached by this fixture.
        expect(AGENT_STATUSES.filter((s) => everything[s] === 0)).to.deep.equal([]);
        expect(await store.agents.countByStatus({ now: NOW })).to.deep.equal(want((_, d) => d.active));
        expect(await store.agents.countByStatus({ now: NOW, policyIds: ['timeout'], showInactive: true })).to.deep.equal(want((_, d) => d.policy_id === 'timeout'));
        expect(await store.agents.countByStatus({ now: NOW, tags: ['x'] })).to.deep.equal(want((_, d) => d.tags.includes('x')));
        // Later, everything that checked in is offline (or inactive under the timeout policy).
        const later = await store.agents.countByStatus({ now: new Date(NOW.getTime() + HOUR) });
        expect(later.online).to.equal(0);
        expect(later.inactive).to.equal(4);
      });

      it('When distinct tags are listed, then they come sorted, once each, limited, within the scope', async function () {
        await store.agents.create('a', agentDoc({ policy_id: 'p1', tags: ['zeta', 'alpha'] }));
        await store.agents.create('b', agentDoc({ policy_id: 'p2', tags: ['beta', 'alpha'] }));
        await store.agents.create('c', agentDoc({ policy_id: 'p1', tags: ['gone'], active: false }));
        expect(await store.agents.distinctTags({ limit: 10 })).to.deep.equal(['alpha', 'beta', 'zeta']);
        expect(await store.agents.distinctTags({ limit: 2 })).to.deep.equal(['alpha', 'beta']);
        expect(await store.agents.distinctTags({ limit: 10, policyIds: ['p1'], showInactive: true })).to.deep.equal(['alpha', 'gone', 'zeta']);
        expect(await store.agents.distinctTags({ limit: 10, policyIds: ['nope'] })).to.deep.equal([]);
      });

      it('When a policy\'s revisions are listed, then they come newest first, paged, and one is read by its number', async function () {
        for (const r of [1, 2, 3]) await store.policies.create(policyDoc('pol', r));
        await store.policies.create(policyDoc('other', 7));
        const first = await store.policies.list('pol', { page: 1, perPage: 2 });
        expect(first.total).to.equal(3);
        expect(first.items.map((h) => h._source.revision_idx)).to.deep.equal([3, 2]);
        expect((await store.policies.list('pol', { page: 2, perPage: 2 })).items.map((h) => h._source.revision_idx)).to.deep.equal([1]);
        expect((await store.policies.get('pol', 2))?._source.revision_idx).to.equal(2);
        expect(await store.policies.get('pol', 9)).to.equal(undefined);
        expect(await store.policies.list('none', { page: 1, perPage: 5 })).to.deep.equal({ total: 0, items: [] });
      });

      it('When actions addressed to an agent are listed, then they come newest first, expired ones included, bounded, with their results', async function () {
        const a1 = await store.actions.create(actionDoc('act-1', ['agent-a', 'agent-b'], at(HOUR)));
        await store.actions.create(actionDoc('act-2', ['agent-b'], at(HOUR)));
        const a3 = await store.actions.create(actionDoc('act-3', ['agent-a'], at(-MINUTE)));
        const a4 = await store.actions.create(actionDoc('act-4', ['agent-a'], at(HOUR)));
        const page = await store.actions.listForAgent({ agentId: 'agent-a', limit: 2 });
        expect(page.total).to.equal(3);
        expect(ids(page.items)).to.deep.equal([a4._id, a3._id]);
        expect(ids((await store.actions.listForAgent({ agentId: 'agent-a', limit: 10 })).items)).to.deep.equal([a4._id, a3._id, a1._id]);
        expect(await store.actions.listForAgent({ agentId: 'nobody', limit: 10 })).to.deep.equal({ total: 0, items: [] });
        await store.actionResults.createMany([resultDoc('act-1', 'agent-a'), resultDoc('act-3', 'agent-a', { error: 'boom' }), resultDoc('act-4', 'agent-b')]);
        const results = await store.actionResults.resultsOf('agent-a', ['act-1', 'act-3', 'act-4']);
        expect(results.map((r) => [r._source.action_id, r._source.error ?? null]).sort()).to.deep.equal([['act-1', null], ['act-3', 'boom']]);
        expect(await store.actionResults.resultsOf('agent-a', [])).to.deep.equal([]);
      });
    });

    // ---- enrollment keys --------------------------------------------------------------------

    describe('enrollmentKeys', function () {
      it('When an enrollment key is created, then get returns it and a duplicate id conflicts', async function () {
        const doc = enrollmentKeyDoc('api-1', 'policy-1', at(0));
        const hit = await store.enrollmentKeys.create('ek-1', doc);
        expect(hit._id).to.equal('ek-1');
        expect(await store.enrollmentKeys.get('ek-1')).to.deep.equal(hit);
        expect(await store.enrollmentKeys.get('ek-2')).to.equal(undefined);
        await rejectsWith(store.enrollmentKeys.create('ek-1', enrollmentKeyDoc('api-2', 'policy-1', at(0))), DocumentConflictError);
      });

      it('When an enrollment key is updated, then the named fields change and a missing key fails with DocumentNotFoundError', async function () {
        const created = await store.enrollmentKeys.create('ek-1', enrollmentKeyDoc('api-1', 'policy-1', at(0)));
        const updated = await store.enrollmentKeys.update('ek-1', { name: 'renamed', updated_at: at(SECOND) });
        expect(updated._seq_no).to.be.greaterThan(created._seq_no);
        expect(updated._source).to.deep.equal({ ...enrollmentKeyDoc('api-1', 'policy-1', at(0)), name: 'renamed', updated_at: at(SECOND) });
        expect(await store.enrollmentKeys.get('ek-1')).to.deep.equal(updated);
        await rejectsWith(store.enrollmentKeys.update('missing', { active: false }), DocumentNotFoundError);

        // `undefined` names no field, as in a JSON partial update.
        const fields: Partial<EnrollmentApiKeyDoc> = { updated_at: undefined, active: false };
        await store.enrollmentKeys.update('ek-1', fields);
        const got = defined(await store.enrollmentKeys.get('ek-1'), 'ek-1');
        expect(got._source.updated_at).to.equal(at(SECOND));
        expect(got._source.active).to.equal(false);
      });

      it('When enrollment keys are listed, then paging and the policyId filter apply to items and total', async function () {
        for (let i = 0; i < 5; i++) {
          await store.enrollmentKeys.create(`ek-${i}`, enrollmentKeyDoc(`api-${i}`, i < 3 ? 'policy-1' : 'policy-2', at(i * SECOND)));
        }
        const seen: string[] = [];
        for (let page = 1; page <= 3; page++) {
          const result = await store.enrollmentKeys.list({ page, perPage: 2 });
          expect(result.total).to.equal(5);
          expect(result.items).to.have.length(page < 3 ? 2 : 1);
          seen.push(...ids(result.items));
        }
        expect(seen.slice().sort()).to.deep.equal(['ek-0', 'ek-1', 'ek-2', 'ek-3', 'ek-4']);

        const p1 = await store.enrollmentKeys.list({ page: 1, perPage: 10, policyId: 'policy-1' });
        expect(p1.total).to.equal(3);
        expect(ids(p1.items).sort()).to.deep.equal(['ek-0', 'ek-1', 'ek-2']);
        const p2 = await store.enrollmentKeys.list({ page: 1, perPage: 1, policyId: 'policy-2' });
        expect(p2.total).to.equal(2);
        expect(p2.items).to.have.length(1);
        expect(['ek-3', 'ek-4']).to.include(p2.items[0]?._id);
      });

      it('When an enrollment key is deactivated, then findActiveByApiKeyId no longer returns it', async function () {
        await store.enrollmentKeys.create('ek-1', enrollmentKeyDoc('api-1', 'policy-1', at(0)));
        await store.enrollmentKeys.create('ek-2', enrollmentKeyDoc('api-2', 'policy-1', at(0)));
        expect((await store.enrollmentKeys.findActiveByApiKeyId('api-1'))?._id).to.equal('ek-1');
        await store.enrollmentKeys.update('ek-1', { active: false });
        expect(await store.enrollmentKeys.findActiveByApiKeyId('api-1')).to.equal(undefined);
        expect((await store.enrollmentKeys.get('ek-1'))?._source.active).to.equal(false);
        expect((await store.enrollmentKeys.findActiveByApiKeyId('api-2'))?._id).to.equal('ek-2');
        expect(await store.enrollmentKeys.findActiveByApiKeyId('api-9')).to.equal(undefined);
      });
    });

    // ---- API keys ---------------------------------------------------------------------------

    describe('credentials', function () {
      const request = (name: string) => ({ name, metadata: { agent_id: name, type: 'access' }, roleDescriptors: {} });

      it('When an API key is created, then its token decodes to id:secret and verify accepts only that secret', async function () {
        const key = await store.credentials.create(request('agent-1'));
        expect(Buffer.from(key.token, 'base64').toString('utf8')).to.equal(`${key.id}:${key.secret}`);
        expect(key).to.include({ name: 'agent-1', invalidated: false });
        const verified = defined(await store.credentials.verify(key.id, key.secret), 'verified');
        expect(verified).to.deep.include({ id: key.id, name: 'agent-1', invalidated: false });
        expect((await store.credentials.get(key.id))?.metadata).to.deep.include({ agent_id: 'agent-1' });
        expect(verified).to.not.have.property('secret');
        expect(await store.credentials.verify(key.id, `${key.secret}x`)).to.equal(undefined);
        expect(await store.credentials.verify('no-such-key', key.secret)).to.equal(undefined);
        expect((await store.credentials.get(key.id))?.id).to.equal(key.id);
        expect(await store.credentials.get('no-such-key')).to.equal(undefined);
      });

      it('When 12 API keys are created concurrently, then each has its own id and secret and verifies with its own secret only', async function () {
        const keys = await Promise.all(Array.from({ length: 12 }, (_, i) => store.credentials.create(request(`burst-${i}`))));
        expect(new Set(keys.map((k) => k.id)).size).to.equal(12);
        expect(new Set(keys.map((k) => k.secret)).size).to.equal(12);
        for (const [i, key] of keys.entries()) {
          expect((await store.credentials.verify(key.id, key.secret))?.name).to.equal(`burst-${i}`);
          const other = keys[(i + 1) % keys.length];
          expect(await store.credentials.verify(key.id, other?.secret ?? '')).to.equal(undefined);
        }
      });

      it('When API keys are invalidated, then only the ids that were valid are returned and verify flags them', async function () {
        const k1 = await store.credentials.create(request('a'));
        const k2 = await store.credentials.create(request('b'));
        const first = await store.credentials.invalidate([k1.id, 'unknown']);
        expect(first).to.deep.equal([k1.id]);
        // A revoked key never verifies as valid (the built-in store flags it, Elasticsearch refuses it).
        const revoked = await store.credentials.verify(k1.id, k1.secret);
        expect(revoked === undefined || revoked.invalidated, 'revoked key verified as valid').to.equal(true);
        expect((await store.credentials.get(k2.id))?.invalidated).to.equal(false);
        expect(await store.credentials.invalidate([k1.id])).to.deep.equal([]);
        expect((await store.credentials.invalidate([k2.id, k1.id])).sort()).to.deep.equal([k2.id]);
        expect(await store.credentials.invalidate([])).to.deep.equal([]);
      });
    });

    // ---- agent policies ---------------------------------------------------------------------

    describe('agentPolicies', function () {
      it('When an agent policy is created, then get returns it and a duplicate id conflicts', async function () {
        const record = agentPolicyRecord('ap-1', at(0));
        expect(await store.agentPolicies.create(record)).to.deep.equal(record);
        expect(await store.agentPolicies.get('ap-1')).to.deep.equal(record);
        expect(await store.agentPolicies.get('ap-2')).to.equal(undefined);
        await rejectsWith(store.agentPolicies.create({ ...record, name: 'other' }), DocumentConflictError);
        expect((await store.agentPolicies.get('ap-1'))?.name).to.equal(record.name);
      });

      it('When an agent policy is put, then it is replaced, and putting a missing one fails with DocumentNotFoundError', async function () {
        const record = { ...agentPolicyRecord('ap-1', at(0)), description: 'old' };
        await store.agentPolicies.create(record);
        const { description: _dropped, ...withoutDescription } = record;
        const next: AgentPolicyRecord = { ...withoutDescription, revision: 2, name: 'renamed', updated_at: at(SECOND) };
        expect(await store.agentPolicies.put(next, 1)).to.deep.equal(next);
        expect(await store.agentPolicies.get('ap-1')).to.deep.equal(next);
        await rejectsWith(store.agentPolicies.put(agentPolicyRecord('missing', at(0), 2), 1), DocumentNotFoundError);
        expect(await store.agentPolicies.get('missing')).to.equal(undefined);
      });

      it('When an agent policy is put expecting a revision it is no longer at, then it fails with DocumentConflictError and the stored record is kept', async function () {
        await store.agentPolicies.create(agentPolicyRecord('ap-1', at(0)));
        const second = { ...agentPolicyRecord('ap-1', at(0), 2), name: 'second' };
        await store.agentPolicies.put(second, 1);
        // A writer that read revision 1 (before the put above) must not overwrite revision 2.
        await rejectsWith(store.agentPolicies.put({ ...agentPolicyRecord('ap-1', at(0), 2), name: 'stale' }, 1), DocumentConflictError);
        expect(await store.agentPolicies.get('ap-1')).to.deep.equal(second);
      });

      it('When two writers put revision 2 over revision 1 at once (two replicas), then exactly one wins and the other gets DocumentConflictError', async function () {
        await store.agentPolicies.create(agentPolicyRecord('ap-1', at(0)));
        const writers = ['a', 'b', 'c'].map((w) => ({ ...agentPolicyRecord('ap-1', at(0), 2), name: `writer ${w}` }));
        const outcomes = await Promise.allSettled(writers.map((r) => store.agentPolicies.put(r, 1)));
        const won = outcomes.filter((o) => o.status === 'fulfilled');
        expect(won, 'writers that succeeded').to.have.length(1);
        for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).to.be.instanceOf(DocumentConflictError);
        const stored = await store.agentPolicies.get('ap-1');
        expect(stored?.revision).to.equal(2);
        expect(stored?.name).to.equal((won[0] as PromiseFulfilledResult<AgentPolicyRecord>).value.name);
      });

      it('When agent policies are listed, then paging applies and total counts them all', async function () {
        for (let i = 0; i < 3; i++) await store.agentPolicies.create(agentPolicyRecord(`ap-${i}`, at(i * SECOND)));
        const page1 = await store.agentPolicies.list({ page: 1, perPage: 2 });
        const page2 = await store.agentPolicies.list({ page: 2, perPage: 2 });
        expect(page1.total).to.equal(3);
        expect(page2.total).to.equal(3);
        expect(page1.items).to.have.length(2);
        expect(page2.items).to.have.length(1);
        expect([...page1.items, ...page2.items].map((r) => r.id).sort()).to.deep.equal(['ap-0', 'ap-1', 'ap-2']);
      });

      it('When an agent policy is deleted, then it is gone and a second delete reports false', async function () {
        await store.agentPolicies.create(agentPolicyRecord('ap-1', at(0)));
        await store.agentPolicies.create(agentPolicyRecord('ap-2', at(0)));
        expect(await store.agentPolicies.delete('ap-1')).to.equal(true);
        expect(await store.agentPolicies.get('ap-1')).to.equal(undefined);
        expect(await store.agentPolicies.delete('ap-1')).to.equal(false);
        expect((await store.agentPolicies.list({ page: 1, perPage: 10 })).total).to.equal(1);
      });

      it('When a delete expects a revision the policy is not at, then it reports false and the policy stays; at its revision, it is deleted', async function () {
        await store.agentPolicies.create(agentPolicyRecord('ap-1', at(0)));
        await store.agentPolicies.put({ ...agentPolicyRecord('ap-1', at(0), 2) }, 1);
        expect(await store.agentPolicies.delete('ap-1', 1)).to.equal(false);
        expect((await store.agentPolicies.get('ap-1'))?.revision).to.equal(2);
        expect(await store.agentPolicies.delete('ap-1', 2)).to.equal(true);
        expect(await store.agentPolicies.get('ap-1')).to.equal(undefined);
        expect(await store.agentPolicies.delete('ap-1', 2)).to.equal(false);
      });
    });

    // ---- close ------------------------------------------------------------------------------

    defineDeliveryContract(() => store);

    describe('close', function () {
      it('When close is called twice, then both calls resolve', async function () {
        await store.close();
        await store.close();
      });

      it('When the store is closed, then operations reject with StoreUnavailableError', async function () {
        await store.agents.create('agent-1', agentDoc());
        await store.close();
        await rejectsWith(store.ping(), StoreUnavailableError);
        await rejectsWith(store.agents.get('agent-1'), StoreUnavailableError);
        await rejectsWith(store.agents.create('agent-2', agentDoc()), StoreUnavailableError);
        await rejectsWith(store.agents.query({ page: 1, perPage: 10, now: NOW }), StoreUnavailableError);
        await rejectsWith(store.policies.create(policyDoc('policy-1', 1)), StoreUnavailableError);
        await rejectsWith(store.policies.checkpoint(), StoreUnavailableError);
        await rejectsWith(store.actions.create(actionDoc('act-1', ['agent-a'])), StoreUnavailableError);
        await rejectsWith(
          store.actions.pendingFor({ agentId: 'agent-a', afterSeqNo: 0, now: NOW, limit: 1 }),
          StoreUnavailableError,
        );
        await rejectsWith(store.actionResults.createMany([resultDoc('act-1', 'agent-a')]), StoreUnavailableError);
        await rejectsWith(store.enrollmentKeys.get('ek-1'), StoreUnavailableError);
        await rejectsWith(store.credentials.get('key-1'), StoreUnavailableError);
        await rejectsWith(store.agentPolicies.list({ page: 1, perPage: 10 }), StoreUnavailableError);
        await rejectsWith(store.managementKeys.get('key-1'), StoreUnavailableError);
        await rejectsWith(store.audit.list({ page: 1, perPage: 10 }), StoreUnavailableError);
        await rejectsWith(store.fleetServers.count(), StoreUnavailableError);
        await rejectsWith(store.consoleSessions.isEnded('sid-1'), StoreUnavailableError);
      });
    });

    defineUploadStoreContract(() => store);

    defineManagementStoreContract(() => store);

    defineRolloutStoreContract(() => store);

    defineFleetServerStoreContract(() => store);

    defineConsoleSessionStoreContract(() => store);

    // ---- durability -------------------------------------------------------------------------

    if (reopen) {
      describe('durability', function () {
        it('When the store is reopened, then documents are there with their _seq_no and checkpoints keep increasing', async function () {
          const agent = await store.agents.create('agent-1', agentDoc());
          const policy = await store.policies.create(policyDoc('policy-1', 1));
          const action = await store.actions.create(actionDoc('act-1', ['agent-a'], at(HOUR)));
          const actionCheckpoint = await store.actions.checkpoint();
          const policyCheckpoint = await store.policies.checkpoint();

          store = await reopen(store);

          expect(await store.agents.get('agent-1')).to.deep.equal(agent);
          expect(await store.policies.latest('policy-1')).to.deep.equal(policy);
          expect(await store.actions.get(action._id)).to.deep.equal(action);
          expect(await store.actions.checkpoint()).to.equal(actionCheckpoint);
          expect(await store.policies.checkpoint()).to.equal(policyCheckpoint);

          const nextAction = await store.actions.create(actionDoc('act-2', ['agent-a'], at(HOUR)));
          const nextPolicy = await store.policies.create(policyDoc('policy-1', 2));
          const nextAgent = await store.agents.update('agent-1', { tags: ['after'] });
          expect(nextAction._seq_no).to.be.greaterThan(actionCheckpoint);
          expect(nextPolicy._seq_no).to.be.greaterThan(policyCheckpoint);
          expect(nextAgent._seq_no).to.be.greaterThan(agent._seq_no);
        });
      });
    }
  });
}
