import type { SpanContext } from '@fleet/telemetry';

/** Why a waiting checkin is woken. */
export type WakeReason = 'actions' | 'policy' | 'revoked' | 'shutdown';

/** One open long poll: a few fields and a callback, nothing per-agent beyond that. */
export interface Waiter {
  readonly agentId: string;
  readonly apiKeyId: string;
  readonly policyId: string;
  /** The policy revision this agent runs; a newer one wakes it. */
  revision: number;
  /** `cause`: the span of the notification that woke it, linked from the delivery. */
  wake(reason: WakeReason, cause?: SpanContext): void;
}

/**
 * The open long polls of this replica, indexed by agent and by policy, so a notification wakes
 * exactly the polls it concerns without scanning the others.
 */
export class LongPollRegistry {
  private readonly byAgent = new Map<string, Set<Waiter>>();
  private readonly byPolicy = new Map<string, Set<Waiter>>();
  /** When each poll's key and agent were last known good (its request's authentication, at first). */
  private readonly verifiedAt = new Map<Waiter, number>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(waiter: Waiter): () => void {
    addTo(this.byAgent, waiter.agentId, waiter);
    addTo(this.byPolicy, waiter.policyId, waiter);
    this.verifiedAt.set(waiter, Date.now());
    this.count += 1;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      removeFrom(this.byAgent, waiter.agentId, waiter);
      removeFrom(this.byPolicy, waiter.policyId, waiter);
      this.verifiedAt.delete(waiter);
      this.count -= 1;
    };
  }

  /** Wakes the polls of these agents (new actions for them). Returns how many were woken. */
  wakeAgents(agentIds: Iterable<string>, reason: WakeReason = 'actions', cause?: SpanContext): number {
    let woken = 0;
    for (const id of agentIds) {
      const set = this.byAgent.get(id);
      if (!set) continue;
      for (const w of [...set]) {
        w.wake(reason, cause);
        woken += 1;
      }
    }
    return woken;
  }

  /** Wakes the polls on `policyId` that run an older revision. */
  wakePolicy(policyId: string, revision: number, cause?: SpanContext): number {
    const set = this.byPolicy.get(policyId);
    if (!set) return 0;
    let woken = 0;
    for (const w of [...set]) {
      if (w.revision < revision) {
        w.wake('policy', cause);
        woken += 1;
      }
    }
    return woken;
  }

  /** Ends the polls authenticated with any of these keys. */
  revokeKeys(agentId: string, apiKeyIds: readonly string[]): number {
    const set = this.byAgent.get(agentId);
    if (!set) return 0;
    let woken = 0;
    for (const w of [...set]) {
      if (apiKeyIds.includes(w.apiKeyId)) {
        w.wake('revoked');
        woken += 1;
      }
    }
    return woken;
  }

  /** The open polls whose key and agent were last verified at or before `before` (ms since epoch). */
  dueForVerification(before: number): Waiter[] {
    const due: Waiter[] = [];
    for (const [w, at] of this.verifiedAt) if (at <= before) due.push(w);
    return due;
  }

  /** Records that a poll's key and agent were found valid at `at` (a poll already answered is ignored). */
  markVerified(waiter: Waiter, at: number): void {
    if (this.verifiedAt.has(waiter)) this.verifiedAt.set(waiter, at);
  }

  /** Answers every open poll (shutdown). */
  wakeAll(reason: WakeReason): number {
    let woken = 0;
    for (const set of [...this.byAgent.values()]) {
      for (const w of [...set]) {
        w.wake(reason);
        woken += 1;
      }
    }
    return woken;
  }
}

function addTo(map: Map<string, Set<Waiter>>, key: string, w: Waiter): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(w);
}

function removeFrom(map: Map<string, Set<Waiter>>, key: string, w: Waiter): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(w);
  if (set.size === 0) map.delete(key);
}
