import type { ApiKeyAuthenticator, Logger } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import type { LongPollRegistry, Waiter } from './long-poll-registry';

export interface HeldPollVerifierOptions {
  /** A held poll's key and agent are verified again once they were last verified this long ago (the auth cache TTL). */
  maxAgeMs: number;
  /** How often due polls are looked for. */
  tickMs: number;
  /** Agents checked at once. */
  concurrency: number;
}

/** The tick for a TTL: a quarter of it, within [250 ms, 5 s], so a poll is verified at most TTL + tick after it last was. */
export const verificationTick = (ttlMs: number): number => Math.min(5_000, Math.max(250, Math.floor(ttlMs / 4)));

/**
 * Holds an open long poll to the trust a new request gets: its key and agent are verified again
 * once their verification is as old as the auth cache TTL. A revocation normally ends the polls
 * at once through the bus (`agent-revoked`); this is the bound when that notification is lost
 * (Redis down, or separate processes on the in-process bus), and for a key revoked outside Fleet
 * (Elasticsearch's invalidate API). A poll whose agent is gone or inactive, bound to another
 * key, or whose key is invalidated, ends with 401 and its key leaves the cache.
 *
 * Cost: two store reads per held agent per TTL, and only for polls held longer than the TTL.
 */
export class HeldPollVerifier {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private closed = false;
  /** Polls ended by this verifier (revocations it found). */
  revoked = 0;

  constructor(
    private readonly deps: { store: FleetStore; registry: LongPollRegistry; authenticator: ApiKeyAuthenticator; logger: Logger },
    private readonly opts: HeldPollVerifierOptions,
  ) {}

  start(): void {
    if (this.closed || this.timer) return;
    this.timer = setInterval(() => void this.verifyDue(), this.opts.tickMs);
    this.timer.unref();
  }

  /** Verifies the polls that are due (shared if a pass is running); resolves with the polls it ended. Never rejects. */
  verifyDue(): Promise<number> {
    this.running ??= this.pass()
      .catch((err: unknown) => {
        this.deps.logger.warn({ err }, 'held poll verification failed');
        return 0;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Idempotent. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async pass(): Promise<number> {
    const startedAt = Date.now();
    const due = this.deps.registry.dueForVerification(startedAt - this.opts.maxAgeMs);
    if (!due.length) return 0;
    // One look-up per agent and key, however many polls it holds.
    const groups = new Map<string, Waiter[]>();
    for (const w of due) {
      const key = `${w.agentId}\u0000${w.apiKeyId}`;
      const list = groups.get(key);
      if (list) list.push(w);
      else groups.set(key, [w]);
    }
    const queue = [...groups.values()];
    let ended = 0;
    const worker = async () => {
      for (let group = queue.pop(); group && !this.closed; group = queue.pop()) {
        const first = group[0] as Waiter;
        let valid: boolean;
        try {
          valid = await this.stillValid(first.agentId, first.apiKeyId);
        } catch (err) {
          // A store that does not answer ends no poll: they are verified again on the next tick.
          this.deps.logger.warn({ err, 'fleet.agent.id': first.agentId }, 'held poll verification look-up failed');
          continue;
        }
        if (valid) {
          for (const w of group) this.deps.registry.markVerified(w, startedAt);
          continue;
        }
        this.deps.authenticator.forget([first.apiKeyId]);
        const n = this.deps.registry.revokeKeys(first.agentId, [first.apiKeyId]);
        ended += n;
        this.deps.logger.info({ 'fleet.agent.id': first.agentId, polls: n }, 'held poll ended: agent or key revoked');
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, queue.length) }, worker));
    this.revoked += ended;
    return ended;
  }

  private async stillValid(agentId: string, apiKeyId: string): Promise<boolean> {
    const agent = await this.deps.store.agents.get(agentId);
    if (!agent?._source.active || agent._source.access_api_key_id !== apiKeyId) return false;
    const key = await this.deps.store.credentials.get(apiKeyId);
    return key !== undefined && !key.invalidated;
  }
}
