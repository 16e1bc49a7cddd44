/**
 * The fault matrix: what is injected (toxiproxy toxics, a disabled proxy, a killed node), and a
 * run of simulated agents through it that keeps the books an operator cares about. Each agent
 * checks in (long poll), acks everything it is given and retries as elastic-agent does (after
 * Retry-After on 503/429); every answer is classified, and afterwards the store is read directly
 * to see that every acked action and every accepted status write landed.
 */
import { FleetAgentClient, FleetApiError, type AckEvent, type CheckinResponse } from '@fleet/agent-protocol';
import type { FleetStore } from '@fleet/store';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent as HttpAgent } from 'node:http';
import { tlsFetch, type TlsClientOptions } from '../../../../deploy/tls/tls-fetch';
import { localMetadata } from './fleet-server-harness';
import type { Toxiproxy } from './toxiproxy';

export const ES_PROXY = 'elasticsearch';
export const REDIS_PROXY = 'redis';

export interface Fault {
  name: string;
  /** What is injected, for the report. */
  injected: string;
  inject(tp: Toxiproxy): Promise<void>;
}

const toxic = (proxy: string, name: string, type: Parameters<Toxiproxy['addToxic']>[1]['type'], stream: 'upstream' | 'downstream', attributes: Record<string, number>) => (tp: Toxiproxy) =>
  tp.addToxic(proxy, { name, type, stream, attributes }).then(() => undefined);

/** Every fault of the full matrix (`npm run faults`); CI runs those in CI_FAULTS. */
export const FAULTS: Fault[] = [
  {
    name: 'es-latency',
    injected: 'Elasticsearch: +400 ms (±100) on every answer',
    inject: toxic(ES_PROXY, 'latency', 'latency', 'downstream', { latency: 400, jitter: 100 }),
  },
  {
    name: 'es-bandwidth',
    injected: 'Elasticsearch: 16 KB/s each way',
    inject: async (tp) => {
      await toxic(ES_PROXY, 'bw-down', 'bandwidth', 'downstream', { rate: 16 })(tp);
      await toxic(ES_PROXY, 'bw-up', 'bandwidth', 'upstream', { rate: 16 })(tp);
    },
  },
  {
    name: 'es-reset-mid-bulk',
    injected: 'Elasticsearch: every connection cut after 8 KiB sent (limit_data), so bulks break mid-body',
    inject: toxic(ES_PROXY, 'limit', 'limit_data', 'upstream', { bytes: 8192 }),
  },
  {
    name: 'es-reset-peer',
    injected: 'Elasticsearch: every connection reset (RST) 100 ms after it opens (reset_peer)',
    inject: toxic(ES_PROXY, 'reset', 'reset_peer', 'upstream', { timeout: 100 }),
  },
  {
    name: 'es-timeout',
    injected: 'Elasticsearch: requests swallowed, connections held open (timeout 0)',
    inject: toxic(ES_PROXY, 'blackhole', 'timeout', 'upstream', { timeout: 0 }),
  },
  {
    name: 'es-partition',
    injected: 'Elasticsearch: proxy disabled (connections closed, new ones refused)',
    inject: (tp) => tp.setEnabled(ES_PROXY, false).then(() => undefined),
  },
  {
    name: 'redis-latency',
    injected: 'Redis: +500 ms on every answer',
    inject: toxic(REDIS_PROXY, 'latency', 'latency', 'downstream', { latency: 500 }),
  },
  {
    name: 'redis-partition',
    injected: 'Redis: proxy disabled (bus and job queue cut)',
    inject: (tp) => tp.setEnabled(REDIS_PROXY, false).then(() => undefined),
  },
];

/** The short form CI runs: a reset mid-bulk, a full store partition, a bus partition. */
export const CI_FAULTS = ['es-reset-mid-bulk', 'es-partition', 'redis-partition'];

/** How one answer (or failure) is counted. Only `ok`, `503+Retry-After` and `429+Retry-After` are allowed. */
export type Outcome = string;

export function classify(err: unknown): { outcome: Outcome; retryAfterMs: number; allowed: boolean } {
  if (err instanceof FleetApiError) return classifyStatus(err.status, err.headers);
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code ?? e.message;
  return { outcome: `network ${code}`, retryAfterMs: 1000, allowed: false };
}

function classifyStatus(status: number, headers: IncomingHttpHeaders | Headers): { outcome: Outcome; retryAfterMs: number; allowed: boolean } {
  const raw = headers instanceof Headers ? headers.get('retry-after') : headers['retry-after'];
  const retryAfter = Number(Array.isArray(raw) ? raw[0] : raw);
  const has = Number.isFinite(retryAfter) && retryAfter > 0;
  if ((status === 503 || status === 429) && has) return { outcome: `${status}+Retry-After`, retryAfterMs: retryAfter * 1000, allowed: true };
  return { outcome: `${status}${status === 503 || status === 429 ? ' without Retry-After' : ''}`, retryAfterMs: 1000, allowed: false };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Books of one run. */
export class Ledger {
  readonly outcomes = new Map<Outcome, number>();
  /** Refusals per kind of request and outcome (`ack 503+Retry-After`). */
  readonly byRequest = new Map<string, number>();
  readonly violations: string[] = [];
  /** Longest wait an agent honours (Retry-After is in whole seconds; 5 s is what the services send). */
  maxRetryWaitMs = 5000;

  record(where: string, err: unknown): number {
    const c = classify(err);
    this.count(c.outcome, where);
    if (!c.allowed && this.violations.length < 50) this.violations.push(`${where}: ${c.outcome}`);
    return Math.min(c.retryAfterMs, this.maxRetryWaitMs);
  }

  /** An answer that is not an exception (acks resolve with their status, whatever it is). */
  recordStatus(where: string, status: number, headers: IncomingHttpHeaders): number {
    const c = classifyStatus(status, headers);
    this.count(c.outcome, where);
    if (!c.allowed && this.violations.length < 50) this.violations.push(`${where}: ${c.outcome}`);
    return Math.min(c.retryAfterMs, this.maxRetryWaitMs);
  }

  /** Counts an outcome, and refusals also per kind of request (`checkin`, `ack`, `enroll`, `management`). */
  count(outcome: Outcome, where?: string): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    if (where && outcome !== 'ok') {
      const key = `${where.split(' ')[0] ?? where} ${outcome}`;
      this.byRequest.set(key, (this.byRequest.get(key) ?? 0) + 1);
    }
  }

  refused(): number {
    let n = 0;
    for (const [k, v] of this.outcomes) if (k !== 'ok') n += v;
    return n;
  }
}

/** The management API through the load balancer, retried as an operator's client would. */
export class Management {
  constructor(
    private readonly url: string,
    private readonly token: string,
    /** For an https URL: the CA to trust (e.g. the topology's clientTls). */
    private readonly tls?: TlsClientOptions,
  ) {}

  async call<T = Record<string, unknown>>(ledger: Ledger | undefined, method: string, path: string, body?: unknown, deadlineMs = 120_000): Promise<T> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      let wait: number;
      try {
        const init = {
          method,
          headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        };
        const res = await (this.tls ? tlsFetch(`${this.url}${path}`, init, this.tls) : fetch(`${this.url}${path}`, init));
        const text = await res.text();
        if (res.ok) {
          ledger?.count('ok');
          return JSON.parse(text) as T;
        }
        const c = classifyStatus(res.status, res.headers);
        if (!ledger) throw new Error(`${method} ${path}: ${res.status} ${text}`);
        ledger.count(c.outcome, 'management');
        if (!c.allowed) ledger.violations.push(`management ${method} ${path}: ${c.outcome} ${text.slice(0, 200)}`);
        wait = Math.min(c.retryAfterMs, ledger.maxRetryWaitMs);
      } catch (err) {
        if (!ledger) throw err;
        wait = ledger.record(`management ${method} ${path}`, err);
      }
      if (Date.now() + wait > deadline) throw new Error(`${method} ${path} did not succeed within ${deadlineMs} ms`);
      await sleep(wait);
    }
  }
}

/** What a run's agents share: the targets they converge on. */
export interface RunContext {
  ledger: Ledger;
  policyId: string;
  /** Set once the last revision of the run is written: agents stop when they have acked it. */
  finalRevision?: number;
  /** Actions created (answered 200) per agent. */
  expected: Map<string, Set<string>>;
  deadline: number;
}

/** One simulated agent with its books. */
export class FaultAgent {
  revision = 0;
  readonly acked = new Set<string>();
  /** Deliveries of an action after its ack was answered 200. */
  duplicates = 0;
  /** What was delivered again, and when (for the notes). */
  readonly duplicateDeliveries: string[] = [];
  /** Sequence number of the last checkin answered 200 (its status must be in the store). */
  lastAccepted = -1;
  /** When that checkin was sent (ms since epoch). */
  lastAcceptedSentAt = 0;
  private seq = 0;

  constructor(readonly client: FleetAgentClient) {}

  get id(): string {
    return this.client.agentId ?? '';
  }

  static async enroll(url: string, httpAgent: HttpAgent, token: string, hostname: string, ledger?: Ledger, deadline = Date.now() + 120_000): Promise<FaultAgent> {
    const client = new FleetAgentClient({ url, httpAgent });
    for (;;) {
      try {
        await client.enroll(token, { type: 'PERMANENT', metadata: { local: localMetadata(hostname), user_provided: {}, tags: [] } });
        ledger?.count('ok');
        return new FaultAgent(client);
      } catch (err) {
        if (!ledger) throw err;
        const wait = ledger.record('enroll', err);
        if (Date.now() + wait > deadline) throw new Error(`enrollment of ${hostname} did not succeed before the deadline`, { cause: err });
        await sleep(wait);
      }
    }
  }

  converged(ctx: RunContext): boolean {
    if (ctx.finalRevision === undefined || this.revision < ctx.finalRevision) return false;
    for (const id of ctx.expected.get(this.id) ?? []) if (!this.acked.has(id)) return false;
    return true;
  }

  /** Checks in, acks, retries, until converged or past the deadline. */
  async run(ctx: RunContext): Promise<void> {
    while (!this.converged(ctx) && Date.now() < ctx.deadline) {
      const seq = ++this.seq;
      const sentAt = Date.now();
      let res: CheckinResponse;
      try {
        res = await this.client.checkin({ status: 'online', message: `seq-${seq}`, agent_policy_id: ctx.policyId, policy_revision_idx: this.revision });
      } catch (err) {
        await sleep(ctx.ledger.record('checkin', err));
        continue;
      }
      ctx.ledger.count('ok');
      this.lastAccepted = seq;
      this.lastAcceptedSentAt = sentAt;
      const actions = res.actions ?? [];
      if (actions.length === 0) continue;
      for (const a of actions) {
        if (!this.acked.has(a.id)) continue;
        this.duplicates += 1;
        this.duplicateDeliveries.push(`${a.id} again at ${new Date().toISOString()} (ack_token ${res.ack_token ?? ''})`);
      }
      const events: AckEvent[] = actions.map((a) => ({
        type: 'ACTION_RESULT',
        subtype: 'ACKNOWLEDGED',
        agent_id: this.id,
        action_id: a.id,
        message: 'ok',
        timestamp: new Date().toISOString(),
      }));
      while (Date.now() < ctx.deadline) {
        try {
          const ack = await this.client.ack(events);
          if (ack.status !== 200) {
            await sleep(ctx.ledger.recordStatus('ack', ack.status, ack.headers));
            continue;
          }
          ctx.ledger.count('ok');
          for (const a of actions) {
            this.acked.add(a.id);
            const m = /^policy:[^:]+:(\d+)$/.exec(a.id);
            if (a.type === 'POLICY_CHANGE' && m?.[1]) this.revision = Math.max(this.revision, Number(m[1]));
          }
          break;
        } catch (err) {
          await sleep(ctx.ledger.record('ack', err));
        }
      }
    }
  }
}

export interface FaultRunOptions {
  name: string;
  injected: string;
  url: string;
  /** For an https URL: the CA to trust. */
  tls?: TlsClientOptions;
  httpAgent: HttpAgent;
  management: Management;
  enrollmentToken: string;
  policyId: string;
  /** Agents already enrolled, on the current revision. */
  fleet: FaultAgent[];
  /** New agents enrolling while the fault lasts. */
  stormSize: number;
  /** Agents that each get a SETTINGS action while the fault lasts. */
  actionAgents: number;
  faultMs: number;
  inject(): Promise<void>;
  clear(): Promise<void>;
  /** Direct (unproxied) store access, for the books. */
  store: FleetStore;
  /** Convergence after the fault is cleared must happen within this. */
  recoverWithinMs: number;
}

export interface FaultRunResult {
  fault: string;
  injected: string;
  faultMs: number;
  agents: number;
  enrolledDuringFault: number;
  /** Agent documents created by enrollments whose answer was lost (the agent retried). */
  orphanEnrollments: number;
  actionsCreated: number;
  /** Acks answered 200 during this run. */
  actionsAcked: number;
  /** Acks whose result was looked up in the store: this run's and the fleet's earlier ones. */
  acksChecked: number;
  lost: number;
  duplicated: number;
  statusWritesChecked: number;
  statusWritesLost: number;
  /**
   * Agents whose stored status is that of an earlier checkin of the same second as the last
   * accepted one (two flushes from two replicas within one second land in either order, see
   * docs/reliability.md); reported, not counted as lost.
   */
  statusWritesReorderedSameSecond: number;
  refused: Record<string, number>;
  /** The same, per kind of request. */
  refusedBy: Record<string, number>;
  violations: string[];
  /** Fault cleared to every agent converged (latest revision and every action acked). */
  recoverMs: number;
  /** Fault cleared to the load balancer's /api/status answering 200. */
  readyMs: number;
  converged: boolean;
  notes: string[];
}

async function parallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** Runs a rollout and an enrollment storm through one fault, then audits the store. */
export async function runFault(o: FaultRunOptions): Promise<FaultRunResult> {
  const ledger = new Ledger();
  const ctx: RunContext = { ledger, policyId: o.policyId, expected: new Map(), deadline: Date.now() + o.faultMs + o.recoverWithinMs + 60_000 };
  const notes: string[] = [];
  const agents = [...o.fleet];
  // The fleet carries its acks from earlier runs: this run's are counted from here (all are checked).
  const ackedBefore = new Map(agents.map((a) => [a, a.acked.size]));
  const loops = agents.map((a) => a.run(ctx));

  await sleep(500);
  await o.inject();
  const injectedAt = Date.now();
  // The rollout: a policy change, and an action for some agents, issued while the fault lasts.
  const storm: FaultAgent[] = [];
  const stormTag = `storm-${o.name}-${Date.now()}`;
  const work = (async () => {
    // Retried until the run's own deadline (a node loss can keep writes away for minutes).
    await o.management.call(ledger, 'PUT', `/api/fleet/agent_policies/${o.policyId}`, { description: `${o.name}: during the fault` }, ctx.deadline - Date.now());
    await parallel(o.fleet.slice(0, o.actionAgents), 4, async (a) => {
      const res = await o.management.call<{ item: { id: string } }>(ledger, 'POST', `/api/fleet/agents/${a.id}/actions`, { action: { type: 'SETTINGS', data: { log_level: 'debug' } } }, ctx.deadline - Date.now());
      ctx.expected.set(a.id, new Set([...(ctx.expected.get(a.id) ?? []), res.item.id]));
    });
  })();
  const enrolling = parallel(
    Array.from({ length: o.stormSize }, (_, i) => i),
    25,
    async (i) => {
      const a = await FaultAgent.enroll(o.url, o.httpAgent, o.enrollmentToken, `${stormTag}-${i}`, ledger, ctx.deadline);
      storm.push(a);
      agents.push(a);
      loops.push(a.run(ctx));
    },
  );
  await sleep(Math.max(0, injectedAt + o.faultMs - Date.now()));
  await o.clear();
  const clearedAt = Date.now();
  let readyMs = -1;
  const ready = (async () => {
    while (Date.now() < ctx.deadline) {
      const ok = await (o.tls ? tlsFetch(`${o.url}/api/status`, {}, o.tls) : fetch(`${o.url}/api/status`)).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) {
        readyMs = Date.now() - clearedAt;
        return;
      }
      await sleep(100);
    }
  })();
  await Promise.all([work, enrolling]);
  // The last revision of the run, written after the fault: everyone must end on it.
  const final = await o.management.call<{ item: { revision: number } }>(ledger, 'PUT', `/api/fleet/agent_policies/${o.policyId}`, { description: `${o.name}: after the fault` }, ctx.deadline - Date.now());
  ctx.finalRevision = final.item.revision;
  await Promise.all(loops);
  const convergedAt = Date.now();
  await ready;
  const converged = agents.every((a) => a.converged(ctx));
  if (!converged) notes.push(`not converged: ${agents.filter((a) => !a.converged(ctx)).length} agents`);
  for (const a of agents) for (const d of a.duplicateDeliveries) notes.push(`duplicate: ${a.id} got ${d}`);

  // The books, read from the store itself.
  let lost = 0;
  let acked = 0;
  for (const a of agents) {
    for (const id of a.acked) {
      acked += 1;
      if (id.startsWith('policy:')) continue;
      const results = await o.store.actionResults.listByActionId(id);
      if (!results.some((r) => r._id === `${id}:${a.id}`)) {
        lost += 1;
        notes.push(`acked ${id} of ${a.id} has no stored result`);
      }
    }
    const doc = await o.store.agents.get(a.id);
    if ((doc?._source.policy_revision_idx ?? 0) < a.revision) {
      lost += 1;
      notes.push(`${a.id} acked revision ${a.revision}, stored ${doc?._source.policy_revision_idx ?? 'none'}`);
    }
  }
  for (const [agent, ids] of ctx.expected) {
    const a = agents.find((x) => x.id === agent);
    for (const id of ids) if (!a?.acked.has(id)) notes.push(`action ${id} for ${agent} never acked`);
  }
  // Status writes: the last accepted checkin of every agent must reach its document.
  const statusLost = new Set<string>();
  const sameSecond = new Set<string>();
  const statusDeadline = Date.now() + 30_000;
  for (const a of agents) {
    for (;;) {
      const doc = await o.store.agents.get(a.id);
      const stored = Number(/^seq-(\d+)$/.exec(doc?._source.last_checkin_message ?? '')?.[1] ?? -1);
      if (stored >= a.lastAccepted) break;
      if (Date.now() > statusDeadline) {
        // last_checkin has one-second resolution: a stored checkin time no earlier than the second
        // the last accepted checkin was sent in is an earlier checkin of that same second.
        const storedAt = Date.parse(doc?._source.last_checkin ?? '') || 0;
        const note = `${a.id}: last accepted checkin seq-${a.lastAccepted} sent ${new Date(a.lastAcceptedSentAt).toISOString()}, stored ${doc?._source.last_checkin_message ?? 'none'} of ${doc?._source.last_checkin ?? 'never'}`;
        if (stored >= 0 && storedAt >= Math.floor(a.lastAcceptedSentAt / 1000) * 1000) {
          sameSecond.add(a.id);
          notes.push(`same second: ${note}`);
        } else {
          statusLost.add(a.id);
          notes.push(note);
        }
        break;
      }
      await sleep(250);
    }
  }
  // Enrollments whose answer was lost leave an agent nobody holds the key of.
  const listed = await o.management.call<{ items: { local_metadata?: { host?: { hostname?: string } } }[] }>(undefined, 'GET', `/api/fleet/agents?perPage=10000&showInactive=true`);
  const stormDocs = listed.items.filter((x) => x.local_metadata?.host?.hostname?.startsWith(`${stormTag}-`)).length;
  const refused = Object.fromEntries([...ledger.outcomes].filter(([k]) => k !== 'ok'));
  return {
    fault: o.name,
    injected: o.injected,
    faultMs: o.faultMs,
    agents: agents.length,
    enrolledDuringFault: storm.length,
    orphanEnrollments: stormDocs - storm.length,
    actionsCreated: [...ctx.expected.values()].reduce((n, s) => n + s.size, 0),
    actionsAcked: agents.reduce((n, a) => n + a.acked.size - (ackedBefore.get(a) ?? 0), 0),
    acksChecked: acked,
    lost,
    duplicated: agents.reduce((n, a) => n + a.duplicates, 0),
    statusWritesChecked: agents.length,
    statusWritesLost: statusLost.size,
    statusWritesReorderedSameSecond: sameSecond.size,
    refused,
    refusedBy: Object.fromEntries(ledger.byRequest),
    violations: ledger.violations,
    recoverMs: convergedAt - clearedAt,
    readyMs,
    converged,
    notes,
  };
}

/** The fault matrix as a Markdown table (docs/reliability.md). */
export function matrixTable(results: FaultRunResult[]): string {
  const rows = [
    '| Fault | Injected | Agents (enrolled during the fault) | Actions acked, POLICY_CHANGE included (SETTINGS created during the fault) | Lost | Duplicated | Status writes lost (reordered within a second) | Refused (503/429 + Retry-After) | Other errors | Ready again | All converged |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const allowed = Object.entries(r.refusedBy).filter(([k]) => k.endsWith('+Retry-After'));
    const other = r.violations.length;
    rows.push(
      `| ${r.fault} | ${r.injected}, ${r.faultMs / 1000} s | ${r.agents} (${r.enrolledDuringFault}) | ${r.actionsAcked} (${r.actionsCreated}) | ${r.lost} | ${r.duplicated} | ${r.statusWritesLost} of ${r.statusWritesChecked} (${r.statusWritesReorderedSameSecond}) | ${allowed.map(([k, v]) => `${v} ${k.replace('+Retry-After', '')}`).join(', ') || '0'} | ${other} | ${(r.readyMs / 1000).toFixed(1)} s | ${(r.recoverMs / 1000).toFixed(1)} s |`,
    );
  }
  return rows.join('\n');
}
