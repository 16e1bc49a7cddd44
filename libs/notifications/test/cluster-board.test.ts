import { InProcessBus, RedisNotificationBus, type NotificationBus } from '@fleet/notifications';
import { expect } from 'chai';
import { redisUrl } from './support/redis-server';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Two buses of one deployment (two replicas); for the in-process bus, one process has one bus. */
type Open = () => Promise<{ a: NotificationBus; b: NotificationBus; close: () => Promise<void> }>;

function defineBoardContract(name: string, open: Open): void {
  describe(`ClusterBoard contract: ${name}`, function () {
    let buses: Awaited<ReturnType<Open>>;
    beforeEach(async () => {
      buses = await open();
    });
    afterEach(async () => {
      await buses.close();
    });

    it('When replicas report on a topic, then every replica reads the live reports, and a report past its TTL drops out', async () => {
      await buses.a.board.report('load', 'gw-1', { open_long_polls: 3, reported_at: 'x' }, 60_000);
      await buses.b.board.report('load', 'gw-2', { open_long_polls: 4 }, 150);
      await buses.b.board.report('other', 'gw-2', { open_long_polls: 9 }, 60_000);
      const both = await buses.a.board.reports('load');
      expect(both.sort((x, y) => x.replica_id.localeCompare(y.replica_id))).to.deep.equal([
        { replica_id: 'gw-1', value: { open_long_polls: 3, reported_at: 'x' } },
        { replica_id: 'gw-2', value: { open_long_polls: 4 } },
      ]);
      await sleep(300);
      expect(await buses.b.board.reports('load')).to.deep.equal([{ replica_id: 'gw-1', value: { open_long_polls: 3, reported_at: 'x' } }]);
      // A new report replaces the replica's last one.
      await buses.b.board.report('load', 'gw-1', { open_long_polls: 0 }, 60_000);
      expect(await buses.a.board.reports('load')).to.deep.equal([{ replica_id: 'gw-1', value: { open_long_polls: 0 } }]);
      expect(await buses.a.board.reports('nothing')).to.deep.equal([]);
    });

    it('When samples are appended to a series, then the newest are kept up to the cap and read oldest first', async () => {
      for (let i = 1; i <= 5; i++) await (i % 2 ? buses.a : buses.b).board.append('status', { n: i }, 3);
      expect(await buses.a.board.recent('status', 10)).to.deep.equal([{ n: 3 }, { n: 4 }, { n: 5 }]);
      expect(await buses.b.board.recent('status', 2)).to.deep.equal([{ n: 4 }, { n: 5 }]);
      expect(await buses.b.board.recent('status', 0)).to.deep.equal([]);
      expect(await buses.b.board.recent('empty', 5)).to.deep.equal([]);
    });
  });
}

defineBoardContract('in process', () => {
  const bus = new InProcessBus();
  return Promise.resolve({ a: bus, b: bus, close: () => bus.close() });
});

defineBoardContract('redis', async () => {
  const channel = `test:${Math.random().toString(36).slice(2)}`;
  const a = await RedisNotificationBus.connect({ url: redisUrl(), channel });
  const b = await RedisNotificationBus.connect({ url: redisUrl(), channel });
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
});
