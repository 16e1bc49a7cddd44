import { ChangeMonitor, FeedCursor, latestRevisions, type FeedChange, type OrderedFeed } from '@fleet/notifications';
import { expect } from 'chai';

/**
 * A feed whose writes become visible only when told: the lag between a write being acknowledged
 * and a search seeing it, which every Elasticsearch reader has to live with.
 */
class LaggingFeed<T> implements OrderedFeed<T> {
  readonly written: FeedChange<T>[] = [];
  visibleUpTo = -1;
  reads = 0;
  failNext = 0;

  write(doc: T, visible = true): number {
    const seq = this.written.length;
    this.written.push({ _id: `doc-${seq}`, _seq_no: seq, _source: doc });
    if (visible) this.visibleUpTo = seq;
    return seq;
  }

  checkpoint(): Promise<number> {
    return Promise.resolve(this.visibleUpTo);
  }

  changesSince(after: number, limit: number): Promise<FeedChange<T>[]> {
    this.reads += 1;
    if (this.failNext > 0) {
      this.failNext -= 1;
      return Promise.reject(new Error('store unavailable'));
    }
    return Promise.resolve(this.written.filter((c) => c._seq_no > after && c._seq_no <= this.visibleUpTo).slice(0, limit));
  }
}

const quiet = { warn: () => undefined };

describe('change monitor', function () {
  it('When a change is announced before the feed shows it, then reach reads again until it is visible, and hands it over once', async () => {
    const feed = new LaggingFeed<{ n: number }>();
    const seen: number[] = [];
    const cursor = new FeedCursor('actions', feed, (changes) => {
      seen.push(...changes.map((c) => c._source.n));
      return changes.length;
    }, quiet, { page: 10, visibilityMs: 2_000 });
    await cursor.start();
    const seq = feed.write({ n: 1 }, false);
    setTimeout(() => (feed.visibleUpTo = seq), 120);
    const woken = await cursor.reach(seq);
    expect(seen).to.deep.equal([1]);
    expect(woken).to.equal(1);
    expect(feed.reads).to.be.greaterThan(1);
    expect(await cursor.reach(seq)).to.equal(0);
    expect(seen).to.deep.equal([1]);
  });

  it('When a change never becomes visible, then reach gives up after its bound and the periodic read delivers it later', async () => {
    const feed = new LaggingFeed<{ n: number }>();
    const seen: number[] = [];
    const cursor = new FeedCursor('actions', feed, (changes) => (seen.push(...changes.map((c) => c._source.n)), 0), quiet, { page: 10, visibilityMs: 150 });
    await cursor.start();
    const seq = feed.write({ n: 7 }, false);
    const started = Date.now();
    await cursor.reach(seq);
    expect(Date.now() - started).to.be.lessThan(1_000);
    expect(seen).to.deep.equal([]);
    feed.visibleUpTo = seq;
    await cursor.read();
    expect(seen).to.deep.equal([7]);
  });

  it('When the handler fails, then the position stays and the same changes are read again', async () => {
    const feed = new LaggingFeed<{ n: number }>();
    let fail = true;
    const seen: number[] = [];
    const cursor = new FeedCursor('policies', feed, (changes) => {
      if (fail) throw new Error('bus down');
      seen.push(...changes.map((c) => c._source.n));
      return 0;
    }, quiet);
    await cursor.start();
    feed.write({ n: 1 });
    feed.write({ n: 2 });
    let failed = false;
    await cursor.read().catch(() => (failed = true));
    expect(failed).to.equal(true);
    expect(cursor.at).to.equal(-1);
    fail = false;
    await cursor.read();
    expect(seen).to.deep.equal([1, 2]);
    expect(cursor.at).to.equal(1);
  });

  it('When a read is asked for while one runs, then the loop goes round again and finds what landed meanwhile', async () => {
    const feed = new LaggingFeed<{ n: number }>();
    const seen: number[] = [];
    let release: (() => void) | undefined;
    const cursor = new FeedCursor('actions', feed, async (changes) => {
      seen.push(...changes.map((c) => c._source.n));
      if (!release) await new Promise<void>((r) => (release = r));
      return 0;
    }, quiet);
    await cursor.start();
    feed.write({ n: 1 });
    const first = cursor.read();
    while (!release) await new Promise((r) => setImmediate(r));
    feed.write({ n: 2 });
    const second = cursor.read();
    release();
    await Promise.all([first, second]);
    expect(seen).to.deep.equal([1, 2]);
  });

  it('When the store was away at start, then a notification starts the cursor just before its change, so that change is not skipped', async () => {
    const feed = new LaggingFeed<{ n: number }>();
    feed.failNext = 0;
    const seen: number[] = [];
    const cursor = new FeedCursor('actions', feed, (changes) => (seen.push(...changes.map((c) => c._source.n)), 0), quiet);
    const seq = feed.write({ n: 3 });
    await cursor.reach(seq);
    expect(seen).to.deep.equal([3]);
  });

  it('When several revisions of a policy are read together, then only the newest is handled, and none older than the known one', () => {
    const c = (policy_id: string, revision_idx: number, seq: number): FeedChange<{ policy_id: string; revision_idx: number }> => ({
      _id: `${policy_id}:${revision_idx}`,
      _seq_no: seq,
      _source: { policy_id, revision_idx },
    });
    const latest = latestRevisions([c('a', 2, 1), c('b', 1, 2), c('a', 3, 3), c('a', 1, 4)], (id) => (id === 'b' ? 1 : undefined));
    expect(latest.map((x) => x._id)).to.deep.equal(['a:3']);
  });

  it('When the monitor runs, then its timer reads both feeds, and close stops it', async () => {
    const policies = new LaggingFeed<{ policy_id: string; revision_idx: number }>();
    const actions = new LaggingFeed<{ n: number }>();
    const seen: string[] = [];
    const monitor = new ChangeMonitor(
      { policies, actions },
      {
        policies: (changes) => (seen.push(...changes.map((c) => `p${c._source.revision_idx}`)), 0),
        actions: (changes) => (seen.push(...changes.map((c) => `a${c._source.n}`)), 0),
      },
      quiet,
      { pollIntervalMs: 20 },
    );
    await monitor.start();
    policies.write({ policy_id: 'x', revision_idx: 1 });
    actions.write({ n: 1 });
    const deadline = Date.now() + 2_000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(seen.sort()).to.deep.equal(['a1', 'p1']);
    await monitor.close();
    await monitor.close();
    actions.write({ n: 2 });
    await new Promise((r) => setTimeout(r, 80));
    expect(seen).to.have.length(2);
  });
});
