import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Mocha global fixture: a real redis-server (Debian's) on a free loopback port, without
 * persistence, exported as FLEET_TEST_REDIS_URL. Tests may stop and start it again on the same port.
 * When FLEET_TEST_REDIS_URL is already set, that server is used and never stopped.
 */
let child: ChildProcess | undefined;
let port = 0;
let dir: string | undefined;

/** A free loopback port (closed again before it is returned). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });

const answersPing = (): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d: Buffer) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });

/** Starts (or restarts) the server on the fixture's port; resolves once it answers PING. */
export async function startRedis(): Promise<void> {
  if (child) return;
  if (!port) port = await freePort();
  dir ??= mkdtempSync(join(tmpdir(), 'fleet-redis-'));
  child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  const started = child;
  started.once('exit', () => {
    if (child === started) child = undefined;
  });
  for (let i = 0; i < 100; i++) {
    if (await answersPing()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not start on port ${port}`);
}

/** Stops the server (as a crash would: SIGKILL) and waits for the port to close. */
export async function stopRedis(): Promise<void> {
  const running = child;
  if (!running) return;
  const exited = new Promise<void>((r) => running.once('exit', () => r()));
  running.kill('SIGKILL');
  await exited;
  child = undefined;
}

export function redisUrl(): string {
  const url = process.env.FLEET_TEST_REDIS_URL;
  if (!url) throw new Error('FLEET_TEST_REDIS_URL is not set: the Redis fixture did not run');
  return url;
}

/** True when this fixture owns the server (so tests may stop and restart it). */
export const ownsRedis = (): boolean => port !== 0;

export async function mochaGlobalSetup(): Promise<void> {
  if (process.env.FLEET_TEST_REDIS_URL) return;
  await startRedis();
  process.env.FLEET_TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await stopRedis();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
