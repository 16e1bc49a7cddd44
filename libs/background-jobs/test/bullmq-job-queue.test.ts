import {
  BullMqJobQueue,
  JobQueueUnavailableError,
  type FleetJobs,
  type JobHandlers,
  type JobLogger,
} from '@fleet/background-jobs';
import { expect } from 'chai';
import { redisUrl } from '../../notifications/test/support/redis-server';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const quiet: JobLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

/** Handlers that record which worker ran which job; revocations sleep a little so work spreads. */
function recordingHandlers(worker: string, runs: { worker: string; job: string; key: string; at: number }[]): JobHandlers {
  return {
    'revoke-api-keys': async (d: FleetJobs['revoke-api-keys']) => {
      runs.push({ worker, job: 'revoke-api-keys', key: d.api_key_ids.join(','), at: Date.now() });
      await sleep(5);
      return { revoked: d.api_key_ids.length };
    },
    'retire-output-keys': (d) => {
      runs.push({ worker, job: 'retire-output-keys', key: d.agent_id, at: Date.now() });
      return Promise.resolve({ retired: 0 });
    },
    'gc-expired-actions': () => {
      runs.push({ worker, job: 'gc-expired-actions', key: '', at: Date.now() });
      return Promise.resolve({ deleted: 0 });
    },
    'sweep-inactive-agents': () => {
      runs.push({ worker, job: 'sweep-inactive-agents', key: '', at: Date.now() });
      return Promise.resolve({ unenrolled: 0 });
    },
    'expire-abandoned-uploads': () => {
      runs.push({ worker, job: 'expire-abandoned-uploads', key: '', at: Date.now() });
      return Promise.resolve({ expired: 0 });
    },
    'sample-agent-status': () => {
      runs.push({ worker, job: 'sample-agent-status', key: '', at: Date.now() });
      return Promise.resolve({ agents: 0 });
    },
  };
}

describe('BullMqJobQueue (real redis-server)', function () {
  this.timeout(30_000);
  const open: BullMqJobQueue[] = [];
  const queue = (queueName: string, extra: Partial<ConstructorParameters<typeof BullMqJobQueue>[0]> = {}) => {
    const q = new BullMqJobQueue({ url: redisUrl(), queueName, retry: { attempts: 3, backoffMs: 50 }, concurrency: 4, logger: quiet, ...extra });
    open.push(q);
    return q;
  };
  const uniqueName = () => `test-jobs-${Math.random().toString(36).slice(2)}`;

  afterEach(async () => {
    await Promise.all(open.splice(0).map((q) => q.close()));
  });

  it('When two dispatchers run workers on one queue, then each of 200 jobs runs exactly once and both take a share', async () => {
    const name = uniqueName();
    const runs: { worker: string; job: string; key: string; at: number }[] = [];
    const [a, b, producer] = [queue(name), queue(name), queue(name)];
    await a.startWorker(recordingHandlers('a', runs), {});
    await b.startWorker(recordingHandlers('b', runs), {});
    for (let i = 0; i < 200; i++) await producer.enqueue('revoke-api-keys', { api_key_ids: [`key-${i}`], reason: 'unenrolled' });
    await eventually(async () => (await producer.counts()).completed === 200);
    await sleep(200);
    const keys = runs.map((r) => r.key);
    expect(keys).to.have.length(200);
    expect(new Set(keys).size).to.equal(200);
    expect(runs.filter((r) => r.worker === 'a').length, 'worker a ran none').to.be.greaterThan(0);
    expect(runs.filter((r) => r.worker === 'b').length, 'worker b ran none').to.be.greaterThan(0);
    expect((await producer.counts()).failed).to.equal(0);
  });

  it('When both dispatchers upsert the same repeatable job, then it runs once per period, not once per dispatcher', async () => {
    const name = uniqueName();
    const runs: { worker: string; job: string; key: string; at: number }[] = [];
    const [a, b] = [queue(name), queue(name)];
    await a.startWorker(recordingHandlers('a', runs), { 'gc-expired-actions': 400 });
    await b.startWorker(recordingHandlers('b', runs), { 'gc-expired-actions': 400 });
    await sleep(3_000);
    const gc = runs.filter((r) => r.job === 'gc-expired-actions').sort((x, y) => x.at - y.at);
    // 3 s at one run per 400 ms is 7 or 8 runs; one schedule per dispatcher would give about 15.
    expect(gc.length).to.be.within(5, 9);
    for (let i = 1; i < gc.length; i++) expect(gc[i]!.at - gc[i - 1]!.at, 'two runs in one period').to.be.greaterThan(250);
  });

  it('When jobs are enqueued while no worker runs, then they wait in Redis and run once a worker starts', async () => {
    const name = uniqueName();
    const producer = queue(name);
    await producer.enqueue('retire-output-keys', { agent_id: 'agent-1' });
    await producer.enqueue('retire-output-keys', { agent_id: 'agent-2' });
    await producer.close();
    expect((await queue(name).counts()).waiting).to.equal(2);
    const runs: { worker: string; job: string; key: string; at: number }[] = [];
    await queue(name).startWorker(recordingHandlers('late', runs), {});
    await eventually(() => runs.length === 2);
    expect(runs.map((r) => r.key).sort()).to.deep.equal(['agent-1', 'agent-2']);
  });

  it('When a job fails, then it is retried with backoff and succeeds once', async () => {
    const name = uniqueName();
    const q = queue(name);
    let calls = 0;
    const handlers: JobHandlers = {
      ...recordingHandlers('w', []),
      'revoke-api-keys': () => (++calls < 3 ? Promise.reject(new Error('elasticsearch unavailable')) : Promise.resolve({ revoked: 1 })),
    };
    await q.startWorker(handlers, {});
    await q.enqueue('revoke-api-keys', { api_key_ids: ['k'], reason: 'unenrolled' });
    await eventually(async () => (await q.counts()).completed === 1);
    expect(calls).to.equal(3);
    expect((await q.counts()).failed).to.equal(0);
  });

  it('When the same revocation is enqueued twice, then it is one job', async () => {
    const name = uniqueName();
    const q = queue(name);
    await q.enqueue('revoke-api-keys', { api_key_ids: ['k1', 'k2'], reason: 'unenrolled' }, { dedupeId: 'k1,k2' });
    await q.enqueue('revoke-api-keys', { api_key_ids: ['k1', 'k2'], reason: 'unenrolled' }, { dedupeId: 'k1,k2' });
    expect((await q.counts()).waiting).to.equal(1);
  });

  it('When Redis is unreachable, then a job with an inline fallback runs inline and one without is refused with a clear error', async () => {
    const inline: string[][] = [];
    const q = queue(uniqueName(), {
      url: 'redis://127.0.0.1:1',
      enqueueTimeoutMs: 300,
      inlineFallback: { 'revoke-api-keys': (d) => (inline.push(d.api_key_ids), Promise.resolve({ revoked: d.api_key_ids.length })) },
    });
    await q.enqueue('revoke-api-keys', { api_key_ids: ['k'], reason: 'unenrolled' });
    expect(inline).to.deep.equal([['k']]);
    const err = await q.enqueue('gc-expired-actions', {}).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(JobQueueUnavailableError);
    expect((err as Error).message).to.match(/gc-expired-actions not enqueued/);
  });
});
