import { expect } from 'chai';
import { FreshCall } from '@fleet/store';

/** A read whose answers the test releases one at a time. */
function controlledRead() {
  const calls: Array<{ resolve: (v: number) => void; reject: (e: Error) => void }> = [];
  const read = (): Promise<number> => new Promise<number>((resolve, reject) => calls.push({ resolve, reject }));
  return { calls, read };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('FreshCall', function () {
  it('When callers arrive while a read is in flight, then they share the next read, begun after they asked, never the one in flight', async function () {
    const shared = new FreshCall<number>();
    const { calls, read } = controlledRead();
    const first = shared.run('k', read);
    const second = shared.run('k', read);
    const third = shared.run('k', read);
    expect(calls).to.have.length(1);
    calls[0]?.resolve(1);
    expect(await first).to.equal(1);
    await tick();
    expect(calls).to.have.length(2);
    calls[1]?.resolve(2);
    expect(await second).to.equal(2);
    expect(await third).to.equal(2);
  });

  it('When the read in flight fails, then its callers get the error and the waiting callers still get a read of their own', async function () {
    const shared = new FreshCall<number>();
    const { calls, read } = controlledRead();
    const first = shared.run('k', read);
    const second = shared.run('k', read);
    calls[0]?.reject(new Error('down'));
    const failure = await first.then(() => undefined, (err: unknown) => err);
    expect((failure as Error).message).to.equal('down');
    await tick();
    calls[1]?.resolve(7);
    expect(await second).to.equal(7);
  });

  it('When keys differ, then their reads do not wait for each other', async function () {
    const shared = new FreshCall<number>();
    const { calls, read } = controlledRead();
    const a = shared.run('a', read);
    const b = shared.run('b', read);
    expect(calls).to.have.length(2);
    calls[1]?.resolve(2);
    calls[0]?.resolve(1);
    expect([await a, await b]).to.deep.equal([1, 2]);
  });

  it('When no read is in flight, then a caller starts one at once and a later caller starts another', async function () {
    const shared = new FreshCall<number>();
    let n = 0;
    expect(await shared.run('k', () => Promise.resolve(++n))).to.equal(1);
    expect(await shared.run('k', () => Promise.resolve(++n))).to.equal(2);
  });
});
