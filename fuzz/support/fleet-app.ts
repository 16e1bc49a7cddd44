import { FleetAgentClient } from '@fleet/agent-protocol';
import { allInOneSchema, startFleetServer, type RunningFleetServer } from '@fleet/all-in-one';
import { createLogger, loadConfig } from '@fleet/service-kit';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request, type OutgoingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { skipKnown } from './known-findings';

/**
 * The all-in-one server on a throw-away SQLite store, on a loopback port, for fuzz targets that
 * reach a parser through the real HTTP pipeline (so a 500 is caught, not only a thrown exception).
 * One per process, started on first use, with a few enrolled agents and an open upload to aim at.
 */

/** Short polls, no rate limits, cheap PBKDF2: per-exec cost stays low and nothing answers 429. */
const FUZZ_OVERRIDES = {
  http: { port: 0, host: '127.0.0.1', drainTimeoutMs: 500, tls: { mode: 'off' } },
  metrics: { port: 0, host: '127.0.0.1' },
  log: { level: 'warn' },
  checkin: { longPollMs: 20, minPollMs: 0, maxPollMs: 20, jitterMs: 0, timestampIntervalMs: 1000 },
  statusWrites: { flushIntervalMs: 100 },
  feedPollIntervalMs: 1000,
  dispatch: { feedPollIntervalMs: 1000 },
  enroll: { pbkdf2: { iterations: 1000, keyLength: 32, saltLength: 16 } },
  bus: { policyDebounceMs: 0 },
  uploads: { maxFileStorageBytes: 64 * 1024 * 1024 },
};

const LIMITED_ROUTES = [
  'checkin',
  'ack',
  'status',
  'auditUnenroll',
  'artifact',
  'fileDelivery',
  'pgpRetrieval',
  'uploadStart',
  'uploadChunk',
  'uploadEnd',
];

export const AGENT_UA = 'Elastic Agent v9.1.0';

export interface FuzzRequest {
  method: string;
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer | string;
}

export interface FuzzResponse {
  status: number;
  body: Buffer;
}

export interface EnrolledAgent {
  id: string;
  /** `ApiKey <access key>` */
  auth: string;
}

export interface FuzzApp {
  server: RunningFleetServer;
  enrollAuth: string;
  adminAuth: string;
  policyId: string;
  /** The agent most targets talk as. */
  agent: EnrolledAgent;
  /** Agents that audit/unenroll, unenroll and reassign may use up. */
  spare: EnrolledAgent[];
  /** An upload of `agent`, begun for a large file, that chunks can be sent to. */
  uploadId: string;
  /** The diagnostics action `agent` may begin uploads for. */
  diagnosticsActionId: string;
  /** Log lines that are findings (see `isFinding`), since the last `takeErrors()`. */
  takeErrors(): string[];
  send(req: FuzzRequest): Promise<FuzzResponse>;
  close(): Promise<void>;
}

let shared: Promise<FuzzApp> | undefined;

/**
 * Log lines that are findings: anything at error level or above, and a status batch that failed
 * (logged at warn and retried whole: one poisoned write would stall every agent's status).
 */
function isFinding(line: string): boolean {
  try {
    const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
    return entry.level === 'error' || entry.level === 'fatal' || (typeof entry.msg === 'string' && entry.msg.includes('flush failed'));
  } catch {
    return true;
  }
}

/** The process's fuzz app, started on first use and closed when the process exits. */
export function fuzzApp(): Promise<FuzzApp> {
  shared ??= startFuzzApp();
  return shared;
}

async function startFuzzApp(): Promise<FuzzApp> {
  // libFuzzer ends the process without Node's exit event, so `npm run fuzz` passes a directory of
  // its own (FUZZ_DATA_ROOT) and removes it when the target is done.
  const dataDir = mkdtempSync(join(process.env.FUZZ_DATA_ROOT ?? tmpdir(), 'fleet-fuzz-'));
  const errors: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() && isFinding(line)) errors.push(line);
      done();
    },
  });
  const limits = Object.fromEntries(LIMITED_ROUTES.map((r) => [r, { intervalMs: 0, max: 0 }]));
  const config = loadConfig(allInOneSchema, {
    env: {},
    overrides: { ...FUZZ_OVERRIDES, limits, enroll: { ...FUZZ_OVERRIDES.enroll, limit: { intervalMs: 0, max: 0 } }, store: { backend: 'sqlite', sqlite: { path: join(dataDir, 'fleet.db') } } },
  });
  const logger = createLogger({ name: 'fleet-fuzz', level: config.log.level }, sink);
  const server = await startFleetServer(config, logger);
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });
  const enrollToken = readFileSync(join(dataDir, 'enrollment-token'), 'utf8').trim();
  const adminAuth = `Bearer ${server.adminToken}`;

  const send = (req: FuzzRequest): Promise<FuzzResponse> =>
    new Promise((resolve, reject) => {
      const r = request(
        { host: '127.0.0.1', port: server.port, method: req.method, path: req.path, headers: req.headers, agent: keepAlive, timeout: 4000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      r.on('timeout', () => r.destroy(new Error(`no answer in 4 s to ${req.method} ${req.path}`)));
      r.on('error', reject);
      r.end(req.body);
    });

  const enroll = async (): Promise<EnrolledAgent> => {
    const client = new FleetAgentClient({ url: server.url, agentVersion: '9.1.0' });
    await client.enroll(enrollToken, {
      type: 'PERMANENT',
      metadata: { local: { elastic: { agent: { version: '9.1.0', snapshot: false, upgradeable: true } }, host: { hostname: 'fuzz' } }, user_provided: {}, tags: [] },
    });
    client.close();
    return { id: client.agentId!, auth: `ApiKey ${client.accessApiKey!}` };
  };
  const json = async (req: FuzzRequest): Promise<Record<string, unknown>> => {
    const res = await send({ ...req, headers: { 'content-type': 'application/json', ...req.headers } });
    if (res.status !== 200) throw new Error(`fuzz app setup: ${req.method} ${req.path} answered ${res.status} ${res.body.toString()}`);
    return JSON.parse(res.body.toString()) as Record<string, unknown>;
  };

  const agent = await enroll();
  const spare = [await enroll(), await enroll(), await enroll()];
  const policies = await json({ method: 'GET', path: '/api/fleet/agent_policies', headers: { authorization: adminAuth } });
  const policyId = String((policies.items as Array<{ id: string }>)[0]?.id);
  const diag = await json({ method: 'POST', path: `/api/fleet/agents/${agent.id}/request_diagnostics`, headers: { authorization: adminAuth }, body: '{}' });
  const diagnosticsActionId = String(diag.actionId);
  const begun = await json({
    method: 'POST',
    path: '/api/fleet/uploads',
    headers: { authorization: agent.auth, 'user-agent': AGENT_UA },
    body: JSON.stringify(uploadBeginBody(diagnosticsActionId, agent.id, 32 * 1024 * 1024)),
  });
  const uploadId = String(begun.upload_id);
  errors.length = 0;

  let closed: Promise<void> | undefined;
  const app: FuzzApp = {
    server,
    enrollAuth: `ApiKey ${enrollToken}`,
    adminAuth,
    policyId,
    agent,
    spare,
    uploadId,
    diagnosticsActionId,
    takeErrors: () => errors.splice(0, errors.length),
    send,
    close() {
      closed ??= (async () => {
        keepAlive.destroy();
        await server.close();
        rmSync(dataDir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
  process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  return app;
}

export function uploadBeginBody(actionId: string, agentId: string, size: number): Record<string, unknown> {
  return {
    action_id: actionId,
    agent_id: agentId,
    src: 'agent',
    file: { size, name: 'elastic-agent-diagnostics-fuzz.zip', ext: 'zip', mime_type: 'application/zip', hash: { sha256: '', md5: '' } },
    contents: null,
  };
}

/** A finding: what was sent and what came back. */
export class FuzzFinding extends Error {
  constructor(what: string, req: FuzzRequest, res?: FuzzResponse) {
    const body = typeof req.body === 'string' ? req.body : req.body?.toString('latin1');
    super(
      `${what}\n  request: ${req.method} ${req.path} ${JSON.stringify(req.headers ?? {})}\n  body (${body?.length ?? 0} chars): ${JSON.stringify(body?.slice(0, 300))}` +
        (res ? `\n  answer: ${res.status} ${res.body.toString('utf8').slice(0, 300)}` : ''),
    );
    this.name = 'FuzzFinding';
  }
}

/**
 * Sends a request and checks what any outsider may rely on: never a 5xx, never silence, an error
 * is JSON `{statusCode, error, message}` with the status it answers, and nothing is logged at error
 * level (a parser that throws deep inside is logged before its 500, and a write that poisons a batch
 * is logged when the batch fails).
 */
export async function sendAndCheck(app: FuzzApp, req: FuzzRequest): Promise<FuzzResponse | undefined> {
  let res: FuzzResponse;
  try {
    res = await app.send(req);
  } catch (err) {
    throw new FuzzFinding(`no answer: ${(err as Error).message}`, req);
  }
  if (res.status === 200 && req.path.endsWith('/checkin')) {
    // The checkin's status goes through the batched writer: write it now, so that a body that
    // poisons the batch is caught with this input, not a later one.
    try {
      await app.server.gateway.statusWrites.flush();
    } catch (err) {
      throw new FuzzFinding(`the status write failed: ${(err as Error).message}`, req, res);
    }
  }
  const errors = app.takeErrors();
  const problem = findProblem(req, res, errors);
  if (problem === undefined) return res;
  if (skipKnown(req, res, errors)) return undefined;
  throw new FuzzFinding(problem, req, res);
}

function findProblem(req: FuzzRequest, res: FuzzResponse, errors: string[]): string | undefined {
  if (res.status >= 500) return `answered ${res.status}`;
  if (res.status >= 400) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch {
      return 'an error answer that is not JSON';
    }
    const acks = parsed as { action?: unknown; items?: Array<{ status?: unknown }> };
    if (req.path.endsWith('/acks') && acks.action === 'acks' && Array.isArray(acks.items)) {
      // The acks protocol: per-event results, answered with the highest event status.
      const worst = Math.max(...acks.items.map((i) => Number(i.status)));
      return worst === res.status ? undefined : `acks answered ${res.status} but its worst event is ${worst}`;
    }
    const e = parsed as { statusCode?: unknown; error?: unknown; message?: unknown };
    if (e.statusCode !== res.status || typeof e.error !== 'string' || typeof e.message !== 'string') {
      return 'an error answer without {statusCode, error, message}';
    }
  }
  if (errors.length > 0) return `logged: ${errors.join('\n').slice(0, 2000)}`;
  return undefined;
}

/** Bytes as a request path segment: URL-safe bytes as they are, others %-escaped (so `%ff` and stray `%` reach the router). */
export function pathSegment(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._~!$&'()*+,;=:@%-]/.test(c) ? c : `%${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}
