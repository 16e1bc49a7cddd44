import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateDeploymentCertificates, REPLICA_TLS_NAME, type DeploymentCertificates } from '../tls/generate-certs';
import { tlsFetch, type TlsClientOptions, type TlsFetchInit } from '../tls/tls-fetch';

/**
 * The scaled-out topology as plain processes on this machine: 3 checkin-gateway, 2 enrollment and
 * 2 policy-dispatcher replicas sharing one Elasticsearch and one Redis, behind haproxy with
 * deploy/haproxy/haproxy.cfg. Every process listens on loopback. Each replica's environment is
 * deploy/env/services.env plus deploy/env/<service>.env (what docker-compose gives the
 * containers), with only the LOCAL_ADDRESSING keys replaced.
 *
 * TLS on every hop, as in docker-compose: the certificates (deploy/tls/generate-certs.ts) are made
 * in `<dataDir>/tls` (kept there when present), haproxy terminates the clients' TLS and presents
 * its client certificate to the replicas, which require one. Clients trust `caFile`.
 */
export interface TopologyOptions {
  /**
   * The Elasticsearch the replicas share. Without it they share the embedded store instead (one
   * SQLite file in `dataDir`, FLEET_STORE_BACKEND=sqlite): the tier bench runs that way, since
   * one Elasticsearch node on this machine bounds every figure long before the gateways do.
   */
  elasticsearch?: {
    url: string;
    serviceTokenFile: string;
    /** The CA of an https `url` (FLEET_ES_SSL_CA_FILE); without it, the system CAs. */
    caFile?: string | undefined;
  };
  /** A plain redis:// URL: the compose file's Redis TLS files are not given to the replicas. */
  redisUrl: string;
  /** Extra environment for every service replica (e.g. shorter long polls in tests). */
  env?: Record<string, string>;
  gateways?: number;
  /** Run the TypeScript sources (tests) or the built `dist/` (operators). */
  fromSource?: boolean;
  /** Where replicas keep their token files. */
  dataDir?: string;
  /** haproxy's port (default: a free one). */
  lbPort?: number;
  /**
   * Where the replicas' logs (stdout) go: the runner's terminal, or (default) one file per replica
   * in `dataDir` (`<name>.log`), whose tail is quoted when a replica fails to come up. stderr is
   * always inherited.
   */
  logs?: 'inherit' | 'files';
  /** haproxy's client-certificate check on its public port (FLEET_LB_CLIENT_AUTH; default optional). */
  lbClientAuth?: 'optional' | 'required';
}

export interface Replica {
  name: string;
  service: ServiceName;
  port: number;
  /** Port of its Prometheus endpoint (GET /metrics). */
  metricsPort: number;
  process: ChildProcess;
  /** Its log file, when logs go to files. */
  logFile?: string;
}

export interface Topology {
  /** haproxy's public URL (https). */
  url: string;
  dataDir: string;
  /** The certificate files in `<dataDir>/tls` (CERT_FILES of deploy/tls/generate-certs.ts). */
  certs: DeploymentCertificates;
  /** The CA that signed haproxy's public certificate (and the replicas'): what clients trust. */
  caFile: string;
  ca: string;
  /** A sample agent client certificate, of the CA haproxy checks agents against. */
  agentCert: { certFile: string; keyFile: string; cert: string; key: string };
  /** TLS options for a client of `url` (the CA; add `agentCert` to present a certificate). */
  clientTls: TlsClientOptions;
  /** A fetch of `url` + path that trusts the topology's CA. */
  fetch(path: string, init?: TlsFetchInit): Promise<Response>;
  /** TLS options that reach a replica directly, as haproxy does (its client certificate). */
  proxyTls: TlsClientOptions;
  /**
   * One more haproxy (same haproxy.cfg, certificates and replicas) on a port of its own, e.g. with
   * another client-certificate mode; closed with the topology.
   */
  addLoadBalancer(opts: { clientAuth: 'optional' | 'required' }): Promise<{ url: string }>;
  replicas: Replica[];
  /** Kills a replica the hard way (SIGKILL), as a crash would. */
  kill(name: string): Promise<void>;
  /** Stops a replica as an orchestrator does (SIGTERM: it drains, answers its polls and exits). */
  stop(name: string): Promise<void>;
  /** Starts a stopped or killed replica again on its port. */
  restart(name: string): Promise<void>;
  close(): Promise<void>;
}

const root = resolve(__dirname, '../..');
const envDir = join(root, 'deploy', 'env');

/**
 * The keys whose container values (service DNS names, container paths, the compose network) mean
 * nothing on this machine; the runner replaces them and nothing else.
 */
export const LOCAL_ADDRESSING = [
  'FLEET_HTTP_HOST',
  'FLEET_HTTP_PORT',
  'FLEET_HTTP_TRUST_PROXY',
  'FLEET_METRICS_HOST',
  'FLEET_METRICS_PORT',
  'FLEET_REPLICA_ID',
  'FLEET_ES_HOSTS',
  'FLEET_ES_SERVICE_TOKEN_FILE',
  'FLEET_REDIS_URL',
  'FLEET_SQLITE_PATH',
  'FLEET_PUBLIC_URLS',
  'FLEET_OUTPUT_HOSTS',
  'FLEET_TLS_CERT_FILE',
  'FLEET_TLS_KEY_FILE',
  'FLEET_TLS_CLIENT_CA_FILE',
  // TLS towards Elasticsearch and Redis: container paths of the compose secrets.
  'FLEET_ES_SSL_CA_FILE',
  'FLEET_REDIS_TLS_CA_FILE',
  'FLEET_REDIS_TLS_CERT_FILE',
  'FLEET_REDIS_TLS_KEY_FILE',
] as const;
export type LocalAddressing = Record<(typeof LOCAL_ADDRESSING)[number], string>;

const LOCAL_ES = 'http://127.0.0.1:9200';

/**
 * The Elasticsearch and Redis keys of a replica here: the runner's local servers instead of the
 * compose services, which are TLS-only. The local ones are the tests' plain servers, so the
 * compose TLS files are cleared (a CA file with a redis:// URL, or with no https Elasticsearch
 * host, is a ConfigError), except the CA of an https Elasticsearch given with its `caFile`.
 */
export function localBackendAddressing(
  opts: Pick<TopologyOptions, 'elasticsearch' | 'redisUrl'>,
): Pick<LocalAddressing, 'FLEET_ES_HOSTS' | 'FLEET_ES_SERVICE_TOKEN_FILE' | 'FLEET_OUTPUT_HOSTS' | 'FLEET_ES_SSL_CA_FILE' | 'FLEET_REDIS_URL' | 'FLEET_REDIS_TLS_CA_FILE' | 'FLEET_REDIS_TLS_CERT_FILE' | 'FLEET_REDIS_TLS_KEY_FILE'> {
  const esUrl = opts.elasticsearch?.url ?? LOCAL_ES;
  return {
    FLEET_ES_HOSTS: esUrl,
    FLEET_ES_SERVICE_TOKEN_FILE: opts.elasticsearch?.serviceTokenFile ?? '',
    FLEET_OUTPUT_HOSTS: esUrl,
    FLEET_ES_SSL_CA_FILE: /^https:/i.test(esUrl) ? (opts.elasticsearch?.caFile ?? '') : '',
    FLEET_REDIS_URL: opts.redisUrl,
    FLEET_REDIS_TLS_CA_FILE: '',
    FLEET_REDIS_TLS_CERT_FILE: '',
    FLEET_REDIS_TLS_KEY_FILE: '',
  };
}

/** Reads a compose-style env file: `KEY=VALUE` lines, `#` comments and blank lines ignored. */
export function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [i, raw] of readFileSync(path, 'utf8').split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`${path}:${i + 1}: expected KEY=VALUE`);
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

export type ServiceName = 'checkin-gateway' | 'enrollment' | 'policy-dispatcher';

/** What docker-compose gives a service's containers: services.env, then the service's own file. */
export function composeEnvironment(service: ServiceName): Record<string, string> {
  return { ...readEnvFile(join(envDir, 'services.env')), ...readEnvFile(join(envDir, `${service}.env`)) };
}

/** A replica's environment here: the compose environment with the addressing keys replaced. */
export function replicaEnvironment(service: ServiceName, local: LocalAddressing): Record<string, string> {
  return { ...composeEnvironment(service), ...local };
}

/** The inherited environment minus FLEET_* (a replica gets exactly the files' configuration). */
function baseEnvironment(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLEET_')));
}

/** The soft limit on open files of this process (haproxy inherits it). */
function fdLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const m = /Max open files\s+(\d+)/.exec(limits);
    return m?.[1] ? Number(m[1]) : 4096;
  } catch {
    return 4096;
  }
}

/** The kernel's ephemeral range: outgoing connections take their local ports from it. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi) return [lo, hi];
  } catch {
    // not Linux: fall through to the IANA dynamic range
  }
  return [49152, 65535];
}

const canListen = (port: number): Promise<boolean> =>
  new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });

const taken = new Set<number>();

/**
 * A free loopback port below the ephemeral range. The replicas bind their ports seconds after
 * they are chosen, while the other processes open connections to Elasticsearch and Redis; a port
 * from the ephemeral range could meanwhile become the local end of one of those connections (a
 * replica then fails with EADDRINUSE). Ports below the range are never handed out that way.
 */
export async function reservePort(): Promise<number> {
  const [lo] = ephemeralRange();
  const floor = Math.max(10_000, lo - 12_000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = floor + Math.floor(Math.random() * (lo - floor));
    if (taken.has(port)) continue;
    if (await canListen(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${floor}-${lo - 1}`);
}

/** The last `lines` lines of a file, or '' when it cannot be read. */
function tail(path: string | undefined, lines: number): string {
  if (!path) return '';
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function waitFor(url: string, ok: (status: number) => boolean, timeoutMs: number, tls: TlsClientOptions, replica?: Replica): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const proc = replica?.process;
    if (proc && (proc.exitCode !== null || proc.signalCode !== null)) {
      const how = proc.exitCode !== null ? `exit code ${proc.exitCode}` : `signal ${proc.signalCode}`;
      throw new Error(`${replica.name} stopped (${how}) before ${url} answered\n${tail(replica.logFile, 20)}`);
    }
    const status = await tlsFetch(url, { timeoutMs: 5000 }, tls).then(
      async (r) => {
        last = `${r.status} ${(await r.text()).slice(0, 300)}`;
        return r.status;
      },
      (err: unknown) => {
        last = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : 'fetch failed');
        return 0;
      },
    );
    if (ok(status)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  const where = replica ? `${replica.name} (pid ${replica.process.pid ?? '?'}): ` : '';
  throw new Error(`${where}${url} did not come up within ${timeoutMs} ms; last answer: ${last}\n${tail(replica?.logFile, 20)}`);
}

/**
 * Starts Debian's redis-server on loopback as BullMQ's production guide asks (append-only, never
 * evict), with its files in `dir`; resolves once it answers PING.
 */
export async function startRedisServer(dir: string, port: number): Promise<{ url: string; child: ChildProcess }> {
  mkdirSync(dir, { recursive: true });
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--maxmemory-policy', 'noeviction', '--save', ''],
    { stdio: ['ignore', 'ignore', 'inherit'], detached: true },
  );
  let failed: Error | undefined;
  child.once('error', (err) => (failed = err));
  for (let i = 0; i < 100; i++) {
    if (failed) throw new Error(`redis-server could not start: ${failed.message} (Debian package redis-server)`);
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} (is port ${port} taken?)`);
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
      return { url: `redis://127.0.0.1:${port}`, child };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer on port ${port}`);
}

const exited = (p: ChildProcess): Promise<void> =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));

export async function startTopology(opts: TopologyOptions): Promise<Topology> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'fleet-topology-'));
  mkdirSync(dataDir, { recursive: true });
  const gateways = opts.gateways ?? 3;
  const plan: { name: string; service: Replica['service'] }[] = [
    // Dispatchers first: the first one bootstraps the default policy and the token files.
    { name: 'dispatcher-1', service: 'policy-dispatcher' },
    { name: 'dispatcher-2', service: 'policy-dispatcher' },
    { name: 'enrollment-1', service: 'enrollment' },
    { name: 'enrollment-2', service: 'enrollment' },
    ...Array.from({ length: gateways }, (_, i) => ({ name: `gateway-${i + 1}`, service: 'checkin-gateway' as const })),
  ];
  const replicas: Replica[] = [];
  const ports = new Map<string, number>();
  for (const p of plan) ports.set(p.name, await reservePort());
  const metricsPorts = new Map<string, number>();
  for (const p of plan) metricsPorts.set(p.name, await reservePort());
  const lbPort = opts.lbPort ?? (await reservePort());
  const logTo = opts.logs ?? 'files';
  const logFile = (name: string): string | undefined => (logTo === 'files' ? join(dataDir, `${name}.log`) : undefined);
  const url = `https://127.0.0.1:${lbPort}`;
  const certs = generateDeploymentCertificates({ out: join(dataDir, 'tls') });
  const read = (f: string) => readFileSync(f, 'utf8');
  const ca = read(certs.files.ca);
  const clientTls: TlsClientOptions = { ca };
  // What haproxy presents to the replicas; the runner's own readiness checks present it too.
  const proxyTls: TlsClientOptions = { ca, cert: read(certs.files.proxyClientCert), key: read(certs.files.proxyClientKey), servername: REPLICA_TLS_NAME };
  const replicaUrl = (port: number) => `https://127.0.0.1:${port}`;

  const launch = (name: string, service: Replica['service'], port: number): ChildProcess => {
    const log = logFile(name);
    // Appended to, so a restarted replica's log follows its first life's.
    const out = log ? openSync(log, 'a') : 'inherit';
    const file = (entry: string) => (opts.fromSource ? join(root, 'services', service, 'src', `${entry}.ts`) : join(root, 'services', service, 'dist', `${entry}.js`));
    // The tracing preload first, as in the containers (it does nothing unless tracing is enabled).
    const args = opts.fromSource
      ? ['--conditions=@fleet/source', '--import', 'tsx', '--import', file('instrumentation'), file('main')]
      : ['--max-semi-space-size=64', '--require', file('instrumentation'), file('main')];
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: {
        ...baseEnvironment(),
        ...replicaEnvironment(service, {
          FLEET_HTTP_HOST: '127.0.0.1',
          FLEET_HTTP_PORT: String(port),
          FLEET_HTTP_TRUST_PROXY: '127.0.0.1',
          FLEET_METRICS_HOST: '127.0.0.1',
          FLEET_METRICS_PORT: String(metricsPorts.get(name) ?? 0),
          FLEET_REPLICA_ID: name,
          ...localBackendAddressing(opts),
          FLEET_SQLITE_PATH: join(dataDir, 'fleet.db'),
          FLEET_PUBLIC_URLS: url,
          FLEET_TLS_CERT_FILE: certs.files.serverCert,
          FLEET_TLS_KEY_FILE: certs.files.serverKey,
          FLEET_TLS_CLIENT_CA_FILE: certs.files.ca,
        }),
        ...(opts.elasticsearch ? {} : { FLEET_STORE_BACKEND: 'sqlite' }),
        ...(process.env.FLEET_LOG_LEVEL ? { FLEET_LOG_LEVEL: process.env.FLEET_LOG_LEVEL } : {}),
        ...opts.env,
      },
      stdio: ['ignore', out, 'inherit'],
      // Its own process group: a Ctrl-C at the runner's terminal reaches the runner only, which
      // then stops every replica gracefully (SIGTERM) instead of each getting two signals.
      detached: true,
    });
    if (typeof out === 'number') closeSync(out); // the child has its own descriptor now
    return child;
  };

  let lb: ChildProcess | undefined;
  const extraLbs: ChildProcess[] = [];
  const closeAll = async () => {
    const all = [...replicas.map((r) => r.process), ...(lb ? [lb] : []), ...extraLbs];
    for (const p of all) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await Promise.all(all.map(exited));
  };
  try {
    for (const p of plan) {
      const port = ports.get(p.name) ?? 0;
      const child = launch(p.name, p.service, port);
      const replica: Replica = { name: p.name, service: p.service, port, metricsPort: metricsPorts.get(p.name) ?? 0, process: child, logFile: logFile(p.name) };
      replicas.push(replica);
      // The first dispatcher must finish bootstrapping before the others start (it listens after).
      if (p.name === 'dispatcher-1') await waitFor(`${replicaUrl(port)}/readyz`, (st) => st === 200, 60_000, proxyTls, replica);
    }
    for (const r of replicas) await waitFor(`${replicaUrl(r.port)}/readyz`, (st) => st === 200, 90_000, proxyTls, r);
    const addr = (name: string) => `127.0.0.1:${ports.get(name) ?? 0}`;
    const spawnLoadBalancer = (port: number, clientAuth: 'optional' | 'required'): ChildProcess =>
      spawn('haproxy', ['-f', join(root, 'deploy', 'haproxy', 'haproxy.cfg'), '-db'], {
        env: {
          ...baseEnvironment(),
          FLEET_LB_BIND: `127.0.0.1:${port}`,
          // Within this host's file-descriptor limit (two per connection, plus a margin).
          FLEET_LB_MAXCONN: String(Math.max(1000, Math.floor((fdLimit() - 100) / 2))),
          FLEET_GATEWAY_1: addr('gateway-1'),
          FLEET_GATEWAY_2: addr(gateways >= 2 ? 'gateway-2' : 'gateway-1'),
          FLEET_GATEWAY_3: addr(gateways >= 3 ? 'gateway-3' : 'gateway-1'),
          FLEET_ENROLLMENT_1: addr('enrollment-1'),
          FLEET_ENROLLMENT_2: addr('enrollment-2'),
          FLEET_DISPATCHER_1: addr('dispatcher-1'),
          FLEET_DISPATCHER_2: addr('dispatcher-2'),
          FLEET_LB_CERT: certs.files.lbPem,
          FLEET_LB_CLIENT_CA: certs.files.agentsCa,
          FLEET_LB_CLIENT_AUTH: clientAuth,
          FLEET_LB_BACKEND_CA: certs.files.ca,
          FLEET_LB_BACKEND_CERT: certs.files.proxyClientPem,
          FLEET_LB_BACKEND_NAME: REPLICA_TLS_NAME,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
        detached: true,
      });
    lb = spawnLoadBalancer(lbPort, opts.lbClientAuth ?? 'optional');
    // With `required`, haproxy answers only clients with a certificate: the runner presents the sample one.
    const agentCert = { certFile: certs.files.agentCert, keyFile: certs.files.agentKey, cert: read(certs.files.agentCert), key: read(certs.files.agentKey) };
    await waitFor(`${url}/api/status`, (s) => s === 200, 30_000, { ...clientTls, cert: agentCert.cert, key: agentCert.key });
    return {
      url,
      dataDir,
      certs,
      caFile: certs.files.ca,
      ca,
      agentCert,
      clientTls,
      proxyTls,
      fetch: (path, init) => tlsFetch(`${url}${path}`, init, clientTls),
      async addLoadBalancer({ clientAuth }) {
        const port = await reservePort();
        extraLbs.push(spawnLoadBalancer(port, clientAuth));
        const extraUrl = `https://127.0.0.1:${port}`;
        await waitFor(`${extraUrl}/api/status`, (s) => s === 200, 30_000, { ...clientTls, cert: agentCert.cert, key: agentCert.key });
        return { url: extraUrl };
      },
      replicas,
      async kill(name) {
        const r = replicas.find((x) => x.name === name);
        if (!r) throw new Error(`no replica ${name}`);
        r.process.kill('SIGKILL');
        await exited(r.process);
      },
      async stop(name) {
        const r = replicas.find((x) => x.name === name);
        if (!r) throw new Error(`no replica ${name}`);
        if (r.process.exitCode === null && r.process.signalCode === null) r.process.kill('SIGTERM');
        await exited(r.process);
      },
      async restart(name) {
        const r = replicas.find((x) => x.name === name);
        if (!r) throw new Error(`no replica ${name}`);
        r.process = launch(r.name, r.service, r.port);
        await waitFor(`${replicaUrl(r.port)}/readyz`, (st) => st === 200, 60_000, proxyTls, r);
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
