import { BoundedCache } from '@fleet/service-kit';
import { expect } from 'chai';

describe('bounded cache', function () {
  it('When more entries are set than it holds, then the least recently used go first', () => {
    const cache = new BoundedCache<string, number>({ maxEntries: 2 });
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).to.equal(1);
    cache.set('c', 3);
    expect(cache.get('b')).to.equal(undefined);
    expect(cache.get('a')).to.equal(1);
    expect(cache.get('c')).to.equal(3);
    expect(cache.size).to.equal(2);
  });

  it('When an entry outlives its time to live, then it is gone and its weight is released', () => {
    let now = 0;
    const cache = new BoundedCache<string, Buffer>({ maxEntries: 10, ttlMs: 100, maxWeight: 10, weigh: (b) => b.length, now: () => now });
    cache.set('a', Buffer.alloc(4));
    now = 99;
    expect(cache.get('a')?.length).to.equal(4);
    now = 100;
    expect(cache.get('a')).to.equal(undefined);
    expect(cache.totalWeight).to.equal(0);
  });

  it('When the weight bound is passed, then the oldest go until it holds; an entry heavier than the bound is not kept', () => {
    const cache = new BoundedCache<string, Buffer>({ maxEntries: 100, maxWeight: 10, weigh: (b) => b.length });
    cache.set('a', Buffer.alloc(4));
    cache.set('b', Buffer.alloc(4));
    cache.set('c', Buffer.alloc(4));
    expect(cache.get('a')).to.equal(undefined);
    expect(cache.totalWeight).to.equal(8);
    cache.set('huge', Buffer.alloc(11));
    expect(cache.get('huge')).to.equal(undefined);
    expect(cache.totalWeight).to.equal(8);
    cache.set('b', Buffer.alloc(1));
    expect(cache.totalWeight).to.equal(5);
  });
});
