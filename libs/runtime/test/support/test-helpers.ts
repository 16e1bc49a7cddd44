import { createLogger, type Logger } from '@fleet/service-kit';
import { Writable } from 'node:stream';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** A pino logger whose lines are kept, to check what a start warned about. */
export function capturingLogger(): { logger: Logger; lines: { level: string; msg: string; reason?: string }[] } {
  const lines: { level: string; msg: string; reason?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ level: 'info', name: 'tls-test' }, sink), lines };
}

/** Fails unless `promise` rejects within `ms` (a refused TLS connection must not hang). */
export async function rejection(promise: Promise<unknown>, ms = 8_000): Promise<Error> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      () => 'resolved' as const,
      (err: unknown) => err,
    ),
    new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), ms))),
  ]);
  clearTimeout(timer);
  if (outcome === 'resolved') throw new Error('expected a rejection, but it succeeded');
  if (outcome === 'hung') throw new Error(`expected a rejection within ${ms} ms, but it hung`);
  return outcome as Error;
}

