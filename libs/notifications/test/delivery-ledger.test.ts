import { InProcessDeliveryLedger, RedisDeliveryLedger, RedisNotificationBus, type DeliveryLedger, type RolloutRef } from '@fleet/notifications';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { redisUrl } from './support/redis-server';

const channelName = (): string => `test:${Math.random().toString(36).slice(2)}`;

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

defineLedgerContract('redis (two buses, as two replicas)', async () => {
  const channel = channelName();
  const writer = await RedisNotificationBus.connect({ url: redisUrl(), channel });
  const reader = await RedisNotificationBus.connect({ url: redisUrl(), channel });
  return {
    writer: writer.ledger,
    reader: reader.ledger,
    close: async () => {
      await writer.close();
      await reader.close();
    },
  };
});

describe('DeliveryLedger on the Redis bus', function () {
  it('When a bus is open, then its ledger writes on the bus connection: the process holds the bus pair and no third connection', async () => {
    const channel = channelName();
    const bus = await RedisNotificationBus.connect({ url: redisUrl(), channel, senderId: `ledger-${channel}` });
    const client = new Redis(redisUrl());
    try {
      bus.ledger.record('agent-a', [policy(1)]);
      await bus.ledger.flush();
      expect(await client.scard(`${channel}:rollout:policy:p-1:1`)).to.equal(1);
      const list = String(await client.client('LIST'));
      const names = list
        .split('\n')
        .map((line: string) => /\bname=(\S*)/.exec(line)?.[1] ?? '')
        .filter((name: string) => name.includes(`ledger-${channel}`) || name === 'fleet-delivery-ledger');
      expect(names.sort()).to.deep.equal([`fleet-pub-ledger-${channel}`, `fleet-sub-ledger-${channel}`]);
    } finally {
      await bus.close();
      await client.quit();
    }
  });

  it('When the bus closes, then what its ledger noted is written first, and closing twice is harmless', async () => {
    const channel = channelName();
    const bus = await RedisNotificationBus.connect({ url: redisUrl(), channel });
    const client = new Redis(redisUrl());
    try {
      bus.ledger.record('agent-a', [action]);
      await bus.close();
      await bus.close();
      expect(await client.scard(`${channel}:rollout:action:act-1`)).to.equal(1);
    } finally {
      await client.quit();
    }
  });
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
    const prefix = `${channelName()}:`;
    const client = new Redis(redisUrl());
    const ledger = new RedisDeliveryLedger({ redis: client, prefix, maxPending: 2, ttlMs: 60_000, flushIntervalMs: 60_000 });
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
