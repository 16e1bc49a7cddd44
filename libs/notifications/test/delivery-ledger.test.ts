import { InProcessDeliveryLedger, RedisDeliveryLedger, type DeliveryLedger, type RolloutRef } from '@fleet/notifications';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { redisUrl } from './support/redis-server';

/** Until the ledger's connection is up (it connects in the background), bounded. */
async function connected(...ledgers: RedisDeliveryLedger[]): Promise<void> {
  for (let i = 0; i < 100 && !ledgers.every((l) => l.connected); i++) await new Promise((r) => setTimeout(r, 20));
}

const policy = (revision: number): RolloutRef => ({ kind: 'policy', policyId: 'p-1', revision });
const action: RolloutRef = { kind: 'action', actionId: 'act-1' };

/** What both ledgers do: distinct agents per rollout, revisions and actions apart, shared by every handle. */
function defineLedgerContract(name: string, open: () => Promise<{ writer: DeliveryLedger; reader: DeliveryLedger; close: () => Promise<void> }>): void {
  describe(`DeliveryLedger contract: ${name}`, function () {
    it('When deliveries are recorded, then each rollout counts its distinct agents, as any reader sees once written', async () => {
      const { writer, reader, close } = await open();
      try {
        writer.record('agent-a', [policy(2), action]);
        writer.record('agent-b', [policy(2)]);
        writer.record('agent-a', [policy(2)]);
        writer.record('agent-c', [policy(3)]);
        await writer.flush();
        expect(await reader.deliveredCount(policy(2))).to.equal(2);
        expect(await reader.deliveredCount(policy(3))).to.equal(1);
        expect(await reader.deliveredCount(action)).to.equal(1);
        expect(await reader.deliveredCount(policy(4))).to.equal(0);
      } finally {
        await close();
      }
    });
  });
}

defineLedgerContract('in-process', () => {
  const ledger = new InProcessDeliveryLedger();
  return Promise.resolve({ writer: ledger, reader: ledger, close: () => ledger.close() });
});

defineLedgerContract('redis', async () => {
  const prefix = `test:${Math.random().toString(36).slice(2)}:`;
  const writer = new RedisDeliveryLedger({ url: redisUrl(), prefix, flushIntervalMs: 60_000 });
  const reader = new RedisDeliveryLedger({ url: redisUrl(), prefix });
  await connected(writer, reader);
  return {
    writer,
    reader,
    close: async () => {
      await writer.close();
      await reader.close();
    },
  };
});

describe('DeliveryLedger bounds', function () {
  it('When the in-process ledger holds more rollouts than its bound, or one outlives its TTL, then the oldest is forgotten', async () => {
    let now = 0;
    const ledger = new InProcessDeliveryLedger({ maxRollouts: 2, ttlMs: 1_000, now: () => now });
    ledger.record('a', [policy(1)]);
    ledger.record('a', [policy(2)]);
    ledger.record('a', [policy(3)]);
    expect(await ledger.deliveredCount(policy(1))).to.equal(0);
    expect(await ledger.deliveredCount(policy(3))).to.equal(1);
    now = 1_500;
    ledger.record('b', [policy(3)]);
    expect(await ledger.deliveredCount(policy(2))).to.equal(0);
    expect(await ledger.deliveredCount(policy(3))).to.equal(2);
  });

  it('When the Redis ledger notes more than maxPending before a write, then the rest is dropped and counted; what it writes expires', async () => {
    const prefix = `test:${Math.random().toString(36).slice(2)}:`;
    const ledger = new RedisDeliveryLedger({ url: redisUrl(), prefix, maxPending: 2, ttlMs: 60_000, flushIntervalMs: 60_000 });
    const client = new Redis(redisUrl());
    await connected(ledger);
    try {
      ledger.record('a', [policy(1), policy(2), action]);
      expect(ledger.dropped).to.equal(1);
      await ledger.flush();
      expect(await ledger.deliveredCount(policy(1))).to.equal(1);
      expect(await ledger.deliveredCount(action)).to.equal(0);
      const ttl = await client.ttl(`${prefix}policy:p-1:1`);
      expect(ttl).to.be.within(1, 60);
    } finally {
      await ledger.close();
      await client.quit();
    }
  });
});
