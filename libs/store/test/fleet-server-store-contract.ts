/**
 * The `store.fleetServers` part of the store contract (`.fleet-servers`), run by
 * `defineStoreContract` for every backend.
 */
import { expect } from 'chai';
import type { FleetServerDoc, FleetStore } from '@fleet/store';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');

export function fleetServerDoc(id: string, atMs: number): FleetServerDoc {
  return {
    '@timestamp': new Date(atMs).toISOString(),
    agent: { id, version: '9.6.0' },
    host: { id: `host-${id}`, architecture: 'x64', name: `host-${id}`, ip: ['10.0.0.1'] },
    server: { id, version: '9.6.0' },
  };
}

export function defineFleetServerStoreContract(store: () => FleetStore): void {
  describe('fleetServers', function () {
    it('When nothing was written, then the count is 0 and a get finds nothing', async function () {
      expect(await store().fleetServers.count()).to.equal(0);
      expect(await store().fleetServers.get('s-1')).to.equal(undefined);
    });

    it('When a server writes its document twice, then it is replaced, not added: one document with the latest heartbeat', async function () {
      await store().fleetServers.put('s-1', fleetServerDoc('s-1', T0));
      await store().fleetServers.put('s-1', fleetServerDoc('s-1', T0 + 300_000));
      await store().fleetServers.put('s-2', fleetServerDoc('s-2', T0));
      expect(await store().fleetServers.count()).to.equal(2);
      const hit = await store().fleetServers.get('s-1');
      expect(hit?._source).to.deep.equal(fleetServerDoc('s-1', T0 + 300_000));
    });

    it('When stale documents are deleted, then only those before the cutoff go, at most the limit per call', async function () {
      for (let i = 0; i < 4; i++) await store().fleetServers.put(`old-${i}`, fleetServerDoc(`old-${i}`, T0 + i * 1000));
      await store().fleetServers.put('fresh', fleetServerDoc('fresh', T0 + 3_600_000));
      const cutoff = new Date(T0 + 60_000);
      expect(await store().fleetServers.deleteStale(cutoff, 3)).to.equal(3);
      expect(await store().fleetServers.count()).to.equal(2);
      expect(await store().fleetServers.deleteStale(cutoff, 3)).to.equal(1);
      expect(await store().fleetServers.deleteStale(cutoff, 3)).to.equal(0);
      expect(await store().fleetServers.get('fresh')).to.not.equal(undefined);
      expect(await store().fleetServers.count()).to.equal(1);
    });
  });
}
