/**
 * The `store.consoleSessions` part of the store contract (console sessions signed out), run by
 * `defineStoreContract` for every backend.
 */
import { expect } from 'chai';
import type { EndedConsoleSession, FleetStore } from '@fleet/store';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');

const ended = (sid: string, expiresMs: number): EndedConsoleSession => ({
  sid,
  expires_at: new Date(expiresMs).toISOString(),
  ended_at: new Date(T0).toISOString(),
});

export function defineConsoleSessionStoreContract(store: () => FleetStore): void {
  describe('consoleSessions', function () {
    it('When a session is ended, then it reads as ended, and other sessions do not', async function () {
      expect(await store().consoleSessions.isEnded('sid-a')).to.equal(false);
      await store().consoleSessions.end(ended('sid-a', T0 + 3_600_000));
      expect(await store().consoleSessions.isEnded('sid-a')).to.equal(true);
      expect(await store().consoleSessions.isEnded('sid-b')).to.equal(false);
    });

    it('When a session is ended twice, then the second call succeeds and it stays ended', async function () {
      await store().consoleSessions.end(ended('sid-twice', T0 + 3_600_000));
      await store().consoleSessions.end(ended('sid-twice', T0 + 7_200_000));
      expect(await store().consoleSessions.isEnded('sid-twice')).to.equal(true);
    });

    it('When expired records are swept, then only sessions that expired before the cutoff go, at most the limit per call', async function () {
      for (let i = 0; i < 4; i++) await store().consoleSessions.end(ended(`old-${i}`, T0 + i * 1000));
      await store().consoleSessions.end(ended('live', T0 + 3_600_000));
      const cutoff = new Date(T0 + 60_000);
      expect(await store().consoleSessions.deleteExpired(cutoff, 3)).to.equal(3);
      expect(await store().consoleSessions.deleteExpired(cutoff, 3)).to.equal(1);
      expect(await store().consoleSessions.deleteExpired(cutoff, 3)).to.equal(0);
      for (let i = 0; i < 4; i++) expect(await store().consoleSessions.isEnded(`old-${i}`), `old-${i}`).to.equal(false);
      expect(await store().consoleSessions.isEnded('live')).to.equal(true);
    });
  });
}
