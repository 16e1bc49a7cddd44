/**
 * The `store.managementKeys` and `store.audit` parts of the store contract, run by
 * `defineStoreContract` for every backend.
 */
import { expect } from 'chai';
import {
  DocumentConflictError,
  DocumentNotFoundError,
  issueManagementKey,
  parseManagementKeyToken,
  verifyManagementKey,
} from '@fleet/store';
import type { AuditRecord, FleetStore } from '@fleet/store';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');

async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export function auditRecord(n: number, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id: `audit-${n}`,
    '@timestamp': new Date(T0 + n * 1000).toISOString(),
    actor: { kind: 'management-key', id: 'k1', name: 'ops-bot', role: 'operator' },
    request: { method: 'POST', route: '/api/fleet/agents/:id/actions', id: `req-${n}` },
    target: { agent_ids: [`agent-${n}`], agent_count: 1, action_id: `act-${n}` },
    action_type: 'UPGRADE',
    client: { address: '203.0.113.7' },
    outcome: { status_code: 200 },
    ...overrides,
  };
}

export function defineManagementStoreContract(store: () => FleetStore): void {
  describe('managementKeys', function () {
    it('When a key is created, then it is read back whole with its hash, its token verifies and a wrong secret does not', async function () {
      const issued = issueManagementKey({ name: 'ci', role: 'operator', createdBy: 'bootstrap', now: new Date(T0) });
      expect(await store().managementKeys.create(issued.record)).to.deep.equal(issued.record);
      const read = await store().managementKeys.get(issued.record.id);
      expect(read).to.deep.equal(issued.record);
      expect(read?.hash).to.match(/^sha256\$/);
      expect(JSON.stringify(read)).to.not.contain(parseManagementKeyToken(issued.token)?.secret);
      const parsed = parseManagementKeyToken(issued.token);
      expect(parsed?.id).to.equal(issued.record.id);
      expect(verifyManagementKey(read!, parsed!.secret)).to.equal(true);
      const last = parsed!.secret.slice(-1);
      expect(verifyManagementKey(read!, `${parsed!.secret.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`)).to.equal(false);
      expect(await store().managementKeys.get('0000000000000000000f')).to.equal(undefined);
    });

    it('When a key id is created twice, then the second fails with DocumentConflictError and the first is kept', async function () {
      const issued = issueManagementKey({ name: 'first', role: 'admin', createdBy: 'bootstrap', now: new Date(T0) });
      await store().managementKeys.create(issued.record);
      const err = await rejected(store().managementKeys.create({ ...issued.record, name: 'second' }));
      expect(err).to.be.instanceOf(DocumentConflictError);
      expect((await store().managementKeys.get(issued.record.id))?.name).to.equal('first');
    });

    it('When keys are listed, then revoked ones are included, newest first, with the total and paging', async function () {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const k = issueManagementKey({ name: `k${i}`, role: 'read-only', createdBy: 'bootstrap', now: new Date(T0 + i * 1000) });
        await store().managementKeys.create(k.record);
        ids.push(k.record.id);
      }
      await store().managementKeys.revoke(ids[0]!, 'bootstrap', new Date(T0 + 5000).toISOString());
      const all = await store().managementKeys.list({ page: 1, perPage: 10 });
      expect(all.total).to.equal(3);
      expect(all.items.map((k) => k.name)).to.deep.equal(['k2', 'k1', 'k0']);
      const second = await store().managementKeys.list({ page: 2, perPage: 2 });
      expect(second.items.map((k) => k.name)).to.deep.equal(['k0']);
      expect(second.items[0]?.revoked_at).to.equal(new Date(T0 + 5000).toISOString());
    });

    it('When a key is revoked, then it no longer verifies, and revoking again keeps the first revocation', async function () {
      const issued = issueManagementKey({ name: 'temp', role: 'admin', createdBy: 'bootstrap', now: new Date(T0) });
      await store().managementKeys.create(issued.record);
      const first = await store().managementKeys.revoke(issued.record.id, 'alice', new Date(T0 + 1000).toISOString());
      expect(first).to.include({ revoked_by: 'alice', revoked_at: new Date(T0 + 1000).toISOString() });
      const again = await store().managementKeys.revoke(issued.record.id, 'bob', new Date(T0 + 2000).toISOString());
      expect(again).to.deep.equal(first);
      const read = await store().managementKeys.get(issued.record.id);
      expect(read).to.deep.equal(first);
      expect(verifyManagementKey(read!, parseManagementKeyToken(issued.token)!.secret)).to.equal(false);
      expect(await rejected(store().managementKeys.revoke('0000000000000000000f', 'alice', new Date().toISOString()))).to.be.instanceOf(DocumentNotFoundError);
    });
  });

  describe('audit', function () {
    it('When records are appended, then they are listed newest first, whole, with the total and paging', async function () {
      const records = [1, 2, 3, 4, 5].map((n) => auditRecord(n));
      for (const r of records) await store().audit.append(r);
      const all = await store().audit.list({ page: 1, perPage: 10 });
      expect(all.total).to.equal(5);
      expect(all.items).to.deep.equal([...records].reverse());
      const page2 = await store().audit.list({ page: 2, perPage: 2 });
      expect(page2.items.map((r) => r.id)).to.deep.equal(['audit-3', 'audit-2']);
      expect(await store().audit.list({ page: 4, perPage: 2 })).to.deep.equal({ total: 5, items: [] });
    });

    it('When a record id is appended twice, then the second fails with DocumentConflictError and the first is unchanged', async function () {
      await store().audit.append(auditRecord(1));
      const err = await rejected(store().audit.append(auditRecord(1, { outcome: { status_code: 500 } })));
      expect(err).to.be.instanceOf(DocumentConflictError);
      const { items } = await store().audit.list({ page: 1, perPage: 10 });
      expect(items).to.deep.equal([auditRecord(1)]);
    });

    it('When the port is inspected, then the audit trail offers no way to change or remove a record', function () {
      expect(Object.keys(store().audit).sort()).to.deep.equal(['append', 'list']);
    });

    it('When nothing was written, then the list is empty', async function () {
      expect(await store().audit.list({ page: 1, perPage: 20 })).to.deep.equal({ total: 0, items: [] });
      expect(await store().managementKeys.list({ page: 1, perPage: 20 })).to.deep.equal({ total: 0, items: [] });
    });
  });
}
