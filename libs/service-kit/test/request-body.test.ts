import { expect } from 'chai';
import { BadRequestError, ConcurrencyGate, BackpressureError, jsonDepthExceeds, parseJsonObject } from '@fleet/service-kit';

const json = (text: string) => Buffer.from(text, 'utf8');
const depthExceeds = (text: string, limit: number) => jsonDepthExceeds(text, limit);

describe('Request bodies: nesting is counted on the raw bytes, before parsing', function () {
  it('When objects and arrays nest exactly to the limit, then the body is accepted; one more level is refused', () => {
    expect(depthExceeds(('{"a":[{"b":[]}]}'), 4)).to.equal(false);
    expect(depthExceeds(('{"a":[{"b":[[]]}]}'), 4)).to.equal(true);
    expect(parseJsonObject(json(`${'{"a":'.repeat(63)}{}${'}'.repeat(63)}`))).to.be.an('object');
    expect(() => parseJsonObject(json(`${'{"a":'.repeat(64)}{}${'}'.repeat(64)}`))).to.throw(BadRequestError, /nested deeper than 64/);
  });

  it('When brackets and quotes sit inside strings (escaped quotes too), then they are not counted', () => {
    const inString = `{"s":"${'{['.repeat(500)}","t":"a\\"{{{{{{\\\\","u":"\\\\"}`;
    expect(depthExceeds((inString), 2)).to.equal(false);
    expect(parseJsonObject(json(inString), 2)).to.have.property('u', '\\');
  });

  it('When many siblings follow each other, then only the depth counts, not their number', () => {
    const wide = `{"a":[${Array.from({ length: 10_000 }, () => '[{}]').join(',')}]}`;
    expect(depthExceeds((wide), 4)).to.equal(false);
    expect(depthExceeds((wide), 3)).to.equal(true);
  });
});

describe('ConcurrencyGate', function () {
  it('When tasks exceed concurrency plus queue, then the extra ones are refused at once and the rest run in order', async () => {
    const gate = new ConcurrencyGate({ concurrency: 1, maxQueued: 2 }, 'tasks');
    const order: number[] = [];
    let release!: () => void;
    const first = gate.run(() => new Promise<void>((r) => (release = r)).then(() => order.push(1)));
    const queued = [gate.run(() => Promise.resolve(order.push(2))), gate.run(() => Promise.resolve(order.push(3)))];
    await gate.run(() => Promise.resolve()).then(
      () => expect.fail('a fourth task ran'),
      (err: unknown) => expect(err).to.be.instanceOf(BackpressureError).and.have.property('retryAfterSeconds', 1),
    );
    expect([gate.running, gate.queued]).to.deep.equal([1, 2]);
    release();
    await Promise.all([first, ...queued]);
    expect(order).to.deep.equal([1, 2, 3]);
    expect([gate.running, gate.queued]).to.deep.equal([0, 0]);
  });

  it('When a task fails, then its slot is released', async () => {
    const gate = new ConcurrencyGate({ concurrency: 1, maxQueued: 0 }, 'tasks');
    await gate.run(() => Promise.reject(new Error('boom'))).catch(() => undefined);
    expect(await gate.run(() => Promise.resolve(42))).to.equal(42);
  });
});
