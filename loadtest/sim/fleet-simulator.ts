import { FleetAgentClient, FleetApiError, type CheckinResponse } from '@fleet/agent-protocol';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { tlsFetch, type TlsClientOptions } from '../../deploy/tls/tls-fetch';
import { distribution, ErrorTally, type Distribution } from './measurements';

export interface SimulatorOptions {
  /** Fleet Server (or load balancer) URL: enrollment and the management API. */
  url: string;
  /**
   * Where agents check in and ack after enrolling (default `url`). A real agent likewise moves to
   * the policy's `fleet.hosts` after enrolling; the tier bench points each simulator at one gateway.
   */
  checkinUrl?: string;
  /** For an https `url`: the CA to trust, and a client certificate to present if any. */
  tls?: TlsClientOptions;
  /** For an https `checkinUrl` (default `tls`), e.g. a replica that requires the proxy's client certificate. */
  checkinTls?: TlsClientOptions;
  enrollmentToken: string;
  /** Management API token (policy updates in the rollout scenario). */
  adminToken: string;
  /**
   * Loopback source addresses the agents' sockets are spread over (127.0.0.1, 127.0.0.2, …): each
   * source address has its own ~28,000 ephemeral ports towards one server port.
   */
  sourceAddresses?: string[];
  /** Poll timeout the agents ask for (Go duration; the server grants it minus 2 min, within its bounds). */
  pollTimeout?: string;
  agentVersion?: string;
  /** The CA (PEM) an https `url` is verified with. */
  ca?: string;
}

interface SimAgent {
  client: FleetAgentClient;
  policyId: string;
  revision: number;
  abort?: AbortController;
  /** Taken out of the fleet by release(): its loop ends. */
  released?: boolean;
  /** When this agent received each revision (ms since epoch). */
  receivedAt: Map<number, number>;
}

export interface EnrollResult {
  agents: number;
  seconds: number;
  perSecond: number;
  latencyMs: Distribution;
  errors: Record<string, number>;
}

export interface PolicyUpdate {
  revision: number;
  /** When the management API call was sent (ms since epoch). */
  sent: number;
  /** Time of the management API call's answer after it was sent. */
  apiMs: number;
}

export interface RolloutResult extends PolicyUpdate {
  agents: number;
  /** From sending the management API call to each agent receiving the revision. */
  deliveryMs: Distribution;
  missing: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `Retry-After` in ms (seconds in the header), with jitter so a refused crowd does not return at once. */
function retryAfterMs(err: FleetApiError): number {
  const s = Number(err.headers['retry-after'] ?? 1);
  return (Number.isFinite(s) && s > 0 ? s : 1) * 1000 * (0.5 + Math.random());
}

/** Changes a policy's description through the management API: a new revision for every agent on it. */
export async function updatePolicy(url: string, adminToken: string, policyId: string, tls?: TlsClientOptions): Promise<PolicyUpdate> {
  const sent = Date.now();
  const init = {
    method: 'PUT',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ description: `rollout ${new Date().toISOString()}` }),
  };
  const target = `${url}/api/fleet/agent_policies/${policyId}`;
  const res = await (tls ? tlsFetch(target, init, tls) : fetch(target, init));
  if (!res.ok) throw new Error(`policy update: ${res.status} ${await res.text()}`);
  const revision = ((await res.json()) as { item: { revision: number } }).item.revision;
  return { revision, sent, apiMs: Date.now() - sent };
}

async function inPool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/**
 * Many Elastic Agents in one process, speaking the real protocol through FleetAgentClient: enroll,
 * first checkin and ack, then a long-poll loop per agent (checkin; on a new revision record the
 * time, ack it; on 429 wait Retry-After; on any other failure back off a second). Nothing is kept
 * per request: an agent is its client, its revision and the times it got revisions.
 */
export class FleetSimulator {
  readonly errors = new ErrorTally();
  readonly agents: SimAgent[] = [];
  /** Polls sent and not yet answered. */
  openPolls = 0;
  /** Checkins answered (any outcome) since the start. */
  checkinsDone = 0;
  /** Poll timeout the agents ask for from their next checkin on (see SimulatorOptions). */
  pollTimeout: string | undefined;
  private holding = false;
  private readonly loops = new Set<Promise<void>>();
  private readonly httpAgents: { address?: string; agent: HttpAgent }[];
  private readonly checkinAgents: { address?: string; agent: HttpAgent }[];

  constructor(private readonly opts: SimulatorOptions) {
    this.pollTimeout = opts.pollTimeout;
    const options = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1_000_000 };
    // Without source addresses the kernel picks each socket's port at connect time (fast); a
    // bound source address makes it search for a port at bind time, which slows down to
    // milliseconds per socket once tens of thousands are open.
    // https URLs: the CA (and client certificate) of `tls`/`checkinTls`, or `ca`.
    const tlsOf = (tls: TlsClientOptions | undefined): TlsClientOptions | undefined => tls ?? (opts.ca ? { ca: opts.ca } : undefined);
    const agents = (url: string, tls: TlsClientOptions | undefined) => {
      const make = (extra: { localAddress?: string }): HttpAgent => (url.startsWith('https:') ? new HttpsAgent({ ...options, ...tls, ...extra }) : new HttpAgent({ ...options, ...extra }));
      return opts.sourceAddresses?.length ? opts.sourceAddresses.map((address) => ({ address, agent: make({ localAddress: address }) })) : [{ agent: make({}) }];
    };
    this.httpAgents = agents(opts.url, tlsOf(opts.tls));
    this.checkinAgents = opts.checkinUrl ? agents(opts.checkinUrl, tlsOf(opts.checkinTls ?? opts.tls)) : this.httpAgents;
  }

  private newClient(i: number, url = this.opts.url): FleetAgentClient {
    const pool = url === this.opts.url ? this.httpAgents : this.checkinAgents;
    const pick = pool[i % pool.length] ?? pool[0];
    return new FleetAgentClient({
      url,
      httpAgent: pick?.agent,
      ...(pick?.address ? { localAddress: pick.address } : {}),
      ...(this.opts.agentVersion ? { agentVersion: this.opts.agentVersion } : {}),
    });
  }

  private record(err: unknown): void {
    if (err instanceof FleetApiError) this.errors.add(err.status);
    else this.errors.add((err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message.slice(0, 40) : 'error'));
  }

  /** Waits as an agent does after a failure: Retry-After on 429, a second otherwise. */
  private backOff(err: unknown): Promise<void> {
    return sleep(err instanceof FleetApiError && err.status === 429 ? retryAfterMs(err) : 1000);
  }

  /** Runs `work` until it succeeds, recording each failure and backing off between tries. */
  private async untilAccepted(work: () => Promise<void>): Promise<void> {
    for (;;) {
      try {
        return await work();
      } catch (err) {
        this.record(err);
        await this.backOff(err);
      }
    }
  }

  /** Enrolls `count` more agents, `concurrency` at a time; 429s are retried after Retry-After. */
  async enroll(count: number, concurrency: number): Promise<EnrollResult> {
    const latencies: number[] = [];
    const errorsBefore = this.errors.toJSON();
    const start = Date.now();
    const base = this.agents.length;
    await inPool(count, concurrency, async (i) => {
      const enrolling = this.newClient(base + i);
      const id = `sim-${base + i}`;
      await this.untilAccepted(async () => {
        const t0 = performance.now();
        await enrolling.enroll(this.opts.enrollmentToken, { type: 'PERMANENT', metadata: { local: { elastic: { agent: { version: '9.1.0', id } }, host: { hostname: id } }, user_provided: {} } });
        latencies.push(performance.now() - t0);
      });
      let client = enrolling;
      if (this.opts.checkinUrl) {
        client = this.newClient(base + i, this.opts.checkinUrl);
        client.agentId = enrolling.agentId;
        client.accessApiKey = enrolling.accessApiKey;
      }
      this.agents.push({ client, policyId: '', revision: 0, receivedAt: new Map() });
    });
    const seconds = (Date.now() - start) / 1000;
    return { agents: count, seconds, perSecond: count / seconds, latencyMs: distribution(latencies), errors: this.errors.since(errorsBefore) };
  }

  /** First checkin of every agent (answered at once with its policy) and the policy ack; returns checkin latencies. */
  async prime(concurrency: number): Promise<Distribution> {
    const latencies: number[] = [];
    const todo = this.agents.filter((a) => a.revision === 0);
    await inPool(todo.length, concurrency, async (i) => {
      const a = todo[i];
      if (!a) return;
      await this.untilAccepted(async () => {
        const t0 = performance.now();
        const res = await a.client.checkin({ status: 'online', message: '' });
        latencies.push(performance.now() - t0);
        await this.accept(a, res);
      });
    });
    return distribution(latencies);
  }

  /** Takes a checkin answer: records a new revision and acks every action in it. */
  private async accept(a: SimAgent, res: CheckinResponse): Promise<void> {
    const actions = res.actions ?? [];
    for (const action of actions) {
      if (action.type !== 'POLICY_CHANGE') continue;
      const [, policyId, rev] = action.id.split(':');
      const revision = Number(rev);
      if (revision > a.revision) {
        a.revision = revision;
        a.policyId = policyId ?? a.policyId;
        a.receivedAt.set(revision, Date.now());
      }
    }
    if (actions.length) {
      await a.client.ack(actions.map((x) => ({ action_id: x.id, agent_id: a.client.agentId ?? '', timestamp: new Date().toISOString(), message: 'ok' })));
    }
  }

  /** Starts every agent's long-poll loop (returns at once). */
  hold(): void {
    if (this.holding) return;
    this.holding = true;
    for (const a of this.agents) {
      const loop = this.pollLoop(a).finally(() => this.loops.delete(loop));
      this.loops.add(loop);
    }
  }

  private async pollLoop(a: SimAgent): Promise<void> {
    while (this.holding && !a.released) {
      a.abort = new AbortController();
      this.openPolls += 1;
      try {
        const res = await a.client.checkin(
          { status: 'online', message: '', agent_policy_id: a.policyId, policy_revision_idx: a.revision, ...(this.pollTimeout ? { poll_timeout: this.pollTimeout } : {}) },
          { signal: a.abort.signal },
        );
        this.openPolls -= 1;
        this.checkinsDone += 1;
        await this.accept(a, res);
      } catch (err) {
        this.openPolls -= 1;
        if (!this.holding || a.released) return;
        this.record(err);
        await this.backOff(err);
      }
    }
  }

  /** Waits until `held()` (e.g. the server's open-poll gauge) reaches `target`; returns the seconds it took. */
  async waitHeld(held: () => Promise<number>, target: number, timeoutMs: number): Promise<number> {
    const start = Date.now();
    while (Date.now() - start < timeoutMs) {
      if ((await held()) >= target) return (Date.now() - start) / 1000;
      await sleep(250);
    }
    throw new Error(`only ${await held()} of ${target} polls held after ${timeoutMs} ms`);
  }

  /** Changes the policy through the management API and measures when each holding agent gets it. */
  async rollout(policyId: string, timeoutMs: number): Promise<RolloutResult> {
    const update = await updatePolicy(this.opts.url, this.opts.adminToken, policyId, this.opts.tls ?? (this.opts.ca ? { ca: this.opts.ca } : undefined));
    return { ...update, ...(await this.awaitRevision(policyId, update.revision, update.sent, update.sent + timeoutMs)) };
  }

  /**
   * Waits until every agent on `policyId` has `revision` (or `deadline`, ms since epoch) and returns
   * how long after `sent` each got it. The tier bench calls it in each simulator process after
   * one policy update.
   */
  async awaitRevision(policyId: string, revision: number, sent: number, deadline: number): Promise<{ agents: number; deliveryMs: Distribution; delays: number[]; missing: number }> {
    const on = this.agents.filter((a) => a.policyId === policyId);
    while (Date.now() < deadline && on.some((a) => a.revision < revision)) await sleep(50);
    const delays = on.flatMap((a) => {
      const at = a.receivedAt.get(revision);
      return at === undefined ? [] : [at - sent];
    });
    return { agents: on.length, deliveryMs: distribution(delays), delays, missing: on.length - delays.length };
  }

  /** Takes the last `count` holding agents out of the fleet (their polls are aborted): load goes down. */
  /**
   * From now on every request opens its own connection (and, over TLS, does a full handshake), as
   * agents that do not keep connections alive would. Node's agent reads `keepAlive` per request.
   */
  newConnectionPerRequest(): void {
    for (const { agent } of this.httpAgents) (agent as unknown as { keepAlive: boolean }).keepAlive = false;
  }

  release(count: number): void {
    const holding = this.agents.filter((a) => !a.released);
    for (const a of holding.slice(Math.max(0, holding.length - count))) {
      a.released = true;
      a.abort?.abort();
    }
  }

  /** Ends the loops (open polls are aborted) and closes every socket. Idempotent. */
  async stop(): Promise<void> {
    this.holding = false;
    for (const a of this.agents) a.abort?.abort();
    await Promise.allSettled([...this.loops]);
    for (const { agent } of new Set([...this.httpAgents, ...this.checkinAgents])) agent.destroy();
  }
}
