import { RedisNotificationBus, type NotificationEnvelope } from '@fleet/notifications';
import { expect } from 'chai';
import { defineBusContract } from './bus-contract';
import { ownsRedis, redisUrl, startRedis, stopRedis } from './support/redis-server';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

defineBusContract('redis', async ({ policyDebounceMs }) => {
  const channel = `test:${Math.random().toString(36).slice(2)}`;
  const a = await RedisNotificationBus.connect({ url: redisUrl(), channel, policyDebounceMs });
  const b = await RedisNotificationBus.connect({ url: redisUrl(), channel, policyDebounceMs });
  return { a, b };
});

describe('RedisNotificationBus specifics (real redis-server)', function () {
  it('When a message on the channel is not a notification, then it is dropped', async () => {
    const channel = `test:${Math.random().toString(36).slice(2)}`;
    const bus = await RedisNotificationBus.connect({ url: redisUrl(), channel });
    const raw = await RedisNotificationBus.connect({ url: redisUrl(), channel: `${channel}:other` });
    const got: NotificationEnvelope[] = [];
    bus.subscribe((e) => got.push(e));
    try {
      await sleep(50);
      // Publish garbage on the bus's channel through a second connection.
      const { Redis } = await import('ioredis');
      const client = new Redis(redisUrl());
      await client.publish(channel, 'not json');
      await client.publish(channel, JSON.stringify({ sender: 's', sent_at: 'now', notification: { kind: 'nonsense' } }));
      await client.quit();
      await sleep(200);
      expect(got).to.deep.equal([]);
      expect(bus.dropped).to.equal(2);
    } finally {
      await bus.close();
      await raw.close();
    }
  });

  it('When Redis is down, then publishing fails quietly; when it is back, the subscriber resubscribes and delivery resumes', async function () {
    if (!ownsRedis()) this.skip();
    this.timeout(30_000);
    const channel = `test:${Math.random().toString(36).slice(2)}`;
    const errors: string[] = [];
    const a = await RedisNotificationBus.connect({ url: redisUrl(), channel, policyDebounceMs: 0, onError: (_e, ctx) => errors.push(ctx) });
    let resubscribed = 0;
    const b = await RedisNotificationBus.connect({ url: redisUrl(), channel, policyDebounceMs: 0, onResubscribed: () => (resubscribed += 1) });
    const got: NotificationEnvelope[] = [];
    b.subscribe((e) => got.push(e));
    try {
      await stopRedis();
      const gone = Date.now() + 5_000;
      while (a.connected && Date.now() < gone) await sleep(20);
      expect(a.connected, 'the publisher noticed the outage').to.equal(false);
      await a.publish({ kind: 'agent-revoked', agent_id: 'lost', api_key_ids: [] });
      expect(errors).to.include('publish');
      await startRedis();
      const deadline = Date.now() + 15_000;
      while (!(a.connected && b.connected && resubscribed > 0) && Date.now() < deadline) await sleep(50);
      expect(b.connected, 'subscriber reconnected').to.equal(true);
      await sleep(100);
      await a.publish({ kind: 'agent-revoked', agent_id: 'after', api_key_ids: [] });
      const until = Date.now() + 3_000;
      while (!got.length && Date.now() < until) await sleep(20);
      expect(got.map((e) => (e.notification.kind === 'agent-revoked' ? e.notification.agent_id : ''))).to.deep.equal(['after']);
    } finally {
      await startRedis(); // whatever happened above, the next suites get their server back
      await a.close();
      await b.close();
    }
  });
});
