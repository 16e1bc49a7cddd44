/**
 * Toxiproxy (github.com/Shopify/toxiproxy), the TCP fault proxy, for the fault-injection tests:
 * built from its Go module on first use and cached beside the deployment tools
 * (`~/.cache/fleet-deploy-tools/bin`, see deploy-tools.ts), started on a loopback port, and driven
 * through its HTTP API by the small typed client below.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { goBinary, runTool, toolsDir } from './deploy-tools';

/** Pinned: the newest v2 release the Go module proxy serves. Its server lives in cmd/server. */
export const TOXIPROXY = { module: 'github.com/Shopify/toxiproxy/v2', package: 'cmd/server', version: 'v2.12.0' } as const;

/** The toxiproxy-server binary of the pinned version, built once into the tools cache. */
export function toxiproxyBinary(): string {
  const bin = join(toolsDir(), 'bin', `toxiproxy-server-${TOXIPROXY.version}`);
  if (existsSync(bin)) return bin;
  mkdirSync(toolsDir(), { recursive: true });
  const gobin = mkdtempSync(join(toolsDir(), 'gobin-'));
  try {
    runTool(goBinary(), ['install', `${TOXIPROXY.module}/${TOXIPROXY.package}@${TOXIPROXY.version}`], { GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', GOBIN: gobin });
    mkdirSync(join(toolsDir(), 'bin'), { recursive: true });
    renameSync(join(gobin, 'server'), bin);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
  return bin;
}

export type ToxicType = 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'reset_peer' | 'slicer' | 'limit_data';

/** One toxic as toxiproxy's API takes it (attributes per type: see its README). */
export interface Toxic {
  name: string;
  type: ToxicType;
  /** Direction: `downstream` is server to client, `upstream` client to server. */
  stream: 'upstream' | 'downstream';
  /** Share of connections it applies to (0 to 1). */
  toxicity?: number;
  attributes: Record<string, number>;
}

export interface Proxy {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics?: Toxic[];
}

/** A running toxiproxy-server and its HTTP API. */
export class Toxiproxy {
  private constructor(
    readonly apiUrl: string,
    private readonly child: ChildProcess,
  ) {}

  /** Starts toxiproxy-server on `127.0.0.1:port` and waits until its API answers. */
  static async start(port: number): Promise<Toxiproxy> {
    const child = spawn(toxiproxyBinary(), ['-host', '127.0.0.1', '-port', String(port)], { stdio: ['ignore', 'ignore', 'ignore'], detached: true });
    let failed: Error | undefined;
    child.once('error', (err) => (failed = err));
    const proxy = new Toxiproxy(`http://127.0.0.1:${port}`, child);
    for (let i = 0; i < 100; i++) {
      if (failed) throw new Error(`toxiproxy-server could not start: ${failed.message}`);
      if (child.exitCode !== null) throw new Error(`toxiproxy-server exited with ${child.exitCode} (is port ${port} taken?)`);
      const ok = await fetch(`${proxy.apiUrl}/version`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return proxy;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    throw new Error(`toxiproxy-server did not answer on port ${port}`);
  }

  private async api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`toxiproxy ${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A proxy listening on `listen` (host:port) that forwards to `upstream` (host:port). */
  createProxy(name: string, listen: string, upstream: string): Promise<Proxy> {
    return this.api<Proxy>('POST', '/proxies', { name, listen, upstream, enabled: true });
  }

  /** Disabling a proxy closes its connections and its listener: a full partition. */
  setEnabled(name: string, enabled: boolean): Promise<Proxy> {
    return this.api<Proxy>('POST', `/proxies/${encodeURIComponent(name)}`, { enabled });
  }

  addToxic(proxy: string, toxic: Toxic): Promise<Toxic> {
    return this.api<Toxic>('POST', `/proxies/${encodeURIComponent(proxy)}/toxics`, { toxicity: 1, ...toxic });
  }

  removeToxic(proxy: string, toxic: string): Promise<void> {
    return this.api<void>('DELETE', `/proxies/${encodeURIComponent(proxy)}/toxics/${encodeURIComponent(toxic)}`);
  }

  proxies(): Promise<Record<string, Proxy>> {
    return this.api<Record<string, Proxy>>('GET', '/proxies');
  }

  /** Re-enables every proxy and removes every toxic. */
  reset(): Promise<void> {
    return this.api<void>('POST', '/reset');
  }

  /** Stops the server (idempotent). */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    await exited;
  }
}
