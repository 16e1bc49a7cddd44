import { InProcessJobQueue, type JobHandlers, type JobLogger } from '@fleet/background-jobs';
import { expect } from 'chai';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const quiet: JobLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function handlers(overrides: Partial<JobHandlers> = {}): JobHandlers {
  const none = () => Promise.resolve({});
  return { 'revoke-api-keys': none, 'retire-output-keys': none, 'gc-expired-actions': none, 'sweep-inactive-agents': none, 'expire-abandoned-uploads': none, 'sample-agent-status': none, ...overrides };
}

describe('InProcessJobQueue', function () {
  it('When jobs are enqueued before the worker starts, then they run once it does', async () => {
    const q = new InProcessJobQueue({ retry: { attempts: 1, backoffMs: 10 }, logger: quiet });
    const ran: string[] = [];
    await q.enqueue('retire-output-keys', { agent_id: 'a' });
    await q.startWorker(handlers({ 'retire-output-keys': (d) => (ran.push(d.agent_id), Promise.resolve({})) }), {});
    await q.close();
    expect(ran).to.deep.equal(['a']);
  });

  it('When a job fails, then it is retried with backoff up to the attempts, and close waits for it', async () => {
    const q = new InProcessJobQueue({ retry: { attempts: 3, backoffMs: 20 }, logger: quiet });
    let calls = 0;
    await q.startWorker(handlers({ 'revoke-api-keys': () => (++calls < 3 ? Promise.reject(new Error('down')) : Promise.resolve({})) }), {});
    await q.enqueue('revoke-api-keys', { api_key_ids: ['k'], reason: 'unenrolled' });
    await sleep(150);
    await q.close();
    expect(calls).to.equal(3);
  });

  it('When the queue closes while a job waits for its retry, then close returns at once and the job is abandoned', async () => {
    const q = new InProcessJobQueue({ retry: { attempts: 5, backoffMs: 60_000 }, logger: quiet });
    let calls = 0;
    await q.startWorker(handlers({ 'revoke-api-keys': () => (calls++, Promise.reject(new Error('down'))) }), {});
    await q.enqueue('revoke-api-keys', { api_key_ids: ['k'], reason: 'unenrolled' });
    await sleep(20);
    const started = Date.now();
    await q.close();
    expect(Date.now() - started).to.be.lessThan(1_000);
    expect(calls).to.equal(1);
    const err = await q.enqueue('gc-expired-actions', {}).catch((e: unknown) => e);
    expect((err as Error).message).to.match(/closed/);
  });

  it('When a repeatable job is due, then it runs on its period and one run at a time', async () => {
    const q = new InProcessJobQueue({ retry: { attempts: 1, backoffMs: 10 }, logger: quiet });
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    await q.startWorker(
      handlers({
        'gc-expired-actions': async () => {
          runs++;
          maxRunning = Math.max(maxRunning, ++running);
          await sleep(120);
          running--;
          return {};
        },
      }),
      { 'gc-expired-actions': 50 },
    );
    await sleep(600);
    await q.close();
    expect(runs).to.be.within(2, 8);
    expect(maxRunning).to.equal(1);
  });
});
