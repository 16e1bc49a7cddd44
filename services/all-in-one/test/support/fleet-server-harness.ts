import { FleetAgentClient, type AgentClientOptions, type CheckinRequest, type CheckinResponse } from '@fleet/agent-protocol';
import { loadConfig, createLogger } from '@fleet/service-kit';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { request as httpRequest } from 'node:http';
import { allInOneSchema, startFleetServer, type RunningFleetServer } from '../../src/index';
import { wipeFleetIndices } from './elasticsearch-admin';

export interface Harness {
  server: RunningFleetServer;
  dataDir: string;
  url: string;
  enrollmentToken: string;
  /** Captured log lines (JSON strings). */
  logs: string[];
  /** Authorization header for the management API. */
  admin: { Authorization: string };
  agent(opts?: Partial<AgentClientOptions>): FleetAgentClient;
  restart(overrides?: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** Test settings: short polls and flushes, fast PBKDF2; everything else as in production. */
export const TEST_OVERRIDES = {
  // Plain HTTP: the HTTPS listener has its own tests (https-listener.test.ts).
  http: { port: 0, host: '127.0.0.1', drainTimeoutMs: 2000, tls: { mode: 'off' } },
  metrics: { port: 0, host: '127.0.0.1' },
  log: { level: 'debug' },
  checkin: { longPollMs: 3000, jitterMs: 0, timestampIntervalMs: 1000, minPollMs: 1000 },
  statusWrites: { flushIntervalMs: 100 },
  feedPollIntervalMs: 200,
  dispatch: { feedPollIntervalMs: 200 },
  enroll: { pbkdf2: { iterations: 1000, keyLength: 32, saltLength: 16 } },
  // Announce revisions at once (the debounce itself is covered by the bus contract suite).
  bus: { policyDebounceMs: 0 },
  // Tests count agents and policies: the replicas' own Fleet Server agent and policy are covered by
  // fleet-server-presence.test.ts, which turns the presence on.
  presence: { enabled: false },
};

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' && !Array.isArray(prev)
        ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export type Backend = 'sqlite' | 'elasticsearch';

/** Store settings for a backend; the Elasticsearch node comes from the global test fixture. */
export function storeOverrides(backend: Backend, dataDir: string): Record<string, unknown> {
  if (backend === 'sqlite') return { store: { backend, sqlite: { path: join(dataDir, 'fleet.db') } } };
  const url = process.env.FLEET_ES_URL;
  if (!url) throw new Error('FLEET_ES_URL is not set: the Elasticsearch fixture did not run');
  return {
    store: {
      backend,
      sqlite: { path: join(dataDir, 'fleet.db') },
      elasticsearch: { hosts: [url], serviceTokenFile: process.env.FLEET_ES_SERVICE_TOKEN_FILE ?? '', bulkFlushIntervalMs: 50 },
    },
  };
}

/**
 * Starts the all-in-one server in this process on a free loopback port with a fresh data dir (and,
 * for Elasticsearch, empty `.fleet-*` indices).
 */
export async function startHarness(overrides: Record<string, unknown> = {}, existingDir?: string, backend: Backend = 'sqlite'): Promise<Harness> {
  const dataDir = existingDir ?? mkdtempSync(join(tmpdir(), 'fleet-test-'));
  if (backend === 'elasticsearch' && !existingDir) await wipeFleetIndices();
  const logs: string[] = [];
  const start = async (extra: Record<string, unknown>) => {
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    const config = loadConfig(allInOneSchema, {
      env: {},
      overrides: merge(merge(TEST_OVERRIDES, storeOverrides(backend, dataDir)), merge(overrides, extra)),
    });
    const logger = createLogger({ name: 'fleet-test', level: config.log.level }, sink);
    return startFleetServer(config, logger);
  };
  let server = await start({});
  const harness: Harness = {
    server,
    dataDir,
    logs,
    get url() {
      return harness.server.url;
    },
    enrollmentToken: readFileSync(join(dataDir, 'enrollment-token'), 'utf8').trim(),
    get admin() {
      return { Authorization: `Bearer ${harness.server.adminToken}` };
    },
    agent: (opts = {}) => new FleetAgentClient({ url: harness.server.url, ...opts }),
    async restart(extra = {}) {
      await server.close();
      server = await start(merge({ http: { port: server.port } }, extra));
      harness.server = server;
    },
    async stop() {
      await server.close();
      if (!existingDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}

export const localMetadata = (hostname = 'test-host') => ({
  elastic: { agent: { version: '9.1.0', snapshot: false, upgradeable: true } },
  host: { hostname, name: hostname, architecture: 'x86_64' },
  os: { family: 'debian', name: 'Debian', platform: 'debian', version: '12' },
});

/** Enrolls a new agent with the harness's default enrollment token. */
export async function enrollAgent(h: Harness, opts: Partial<AgentClientOptions> = {}, tags: string[] = []): Promise<FleetAgentClient> {
  const agent = h.agent(opts);
  await agent.enroll(h.enrollmentToken, { type: 'PERMANENT', metadata: { local: localMetadata(), user_provided: {}, tags } });
  return agent;
}

/** Acknowledges every action of a checkin answer, as elastic-agent does (ACTION_RESULT, ACKNOWLEDGED). */
export function ackAll(agent: FleetAgentClient, res: Pick<CheckinResponse, 'actions'>): ReturnType<FleetAgentClient['ack']> {
  return agent.ack(
    (res.actions ?? []).map((a) => ({
      type: 'ACTION_RESULT',
      subtype: 'ACKNOWLEDGED',
      agent_id: agent.agentId,
      action_id: a.id,
      message: 'ok',
      timestamp: new Date().toISOString(),
    })),
  );
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (bounded). */
export async function eventually<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(stepMs);
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`);
}

/** A raw HTTP POST of exact bytes (supertest re-encodes Buffer bodies). */
export function rawPost(url: string, path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, url), { method: 'POST', headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      });
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** What a healthy agent running one filestream input reports in `components`. */
export const HEALTHY_COMPONENTS: NonNullable<CheckinRequest['components']> = [
  {
    id: 'filestream-default',
    type: 'filestream',
    status: 'HEALTHY',
    message: "Healthy: communicating with pid '4242'",
    units: [
      { id: 'filestream-default', type: 'output', status: 'HEALTHY', message: 'Healthy' },
      { id: 'filestream-default-filestream-system-1', type: 'input', status: 'HEALTHY', message: 'Healthy', payload: { streams: {} } },
    ],
  },
];
