import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server';

/** A TLS-only redis-server for one test (no plain port), started with `startTlsRedis`. */
export interface TlsRedisServer {
  /** `rediss://127.0.0.1:<port>`. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface TlsRedisOptions {
  certFile: string;
  keyFile: string;
  /** CA that signs the client certificates Redis accepts (Redis requires one even when it asks for none). */
  caFile: string;
  /** `yes`: a client certificate is required; `optional`: checked when presented; `no`: not asked for. */
  authClients: 'yes' | 'optional' | 'no';
}

const acceptsTcp = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/**
 * Starts Debian's redis-server with `--port 0 --tls-port N` on loopback, without persistence;
 * resolves once it accepts connections. The caller stops it (in `after`).
 */
export async function startTlsRedis(opts: TlsRedisOptions): Promise<TlsRedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fleet-redis-tls-'));
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port', '0',
      '--tls-port', String(port),
      '--bind', '127.0.0.1',
      '--tls-cert-file', opts.certFile,
      '--tls-key-file', opts.keyFile,
      '--tls-ca-cert-file', opts.caFile,
      '--tls-auth-clients', opts.authClients,
      '--save', '',
      '--appendonly', 'no',
      '--dir', dir,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await acceptsTcp(port)) return { url: `rediss://127.0.0.1:${port}`, port, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`TLS redis-server did not start on port ${port}: ${stderr.trim() || 'no output'}`);
}
