import type { PolicyRevisionNotification } from './notification-bus';

/**
 * Collapses bursts of policy-revision notifications: the first one for a policy starts a window of
 * `windowMs`; revisions arriving inside it only replace the pending one; the newest is sent when the
 * window closes. Other policies are independent. A window of 0 sends at once.
 */
export class PolicyDebouncer {
  private readonly pending = new Map<string, { latest: PolicyRevisionNotification; traceparent: string | undefined; timer: NodeJS.Timeout }>();

  constructor(
    private readonly windowMs: number,
    private readonly send: (n: PolicyRevisionNotification, traceparent?: string) => Promise<void>,
  ) {}

  offer(n: PolicyRevisionNotification, traceparent?: string): Promise<void> {
    if (this.windowMs <= 0) return this.send(n, traceparent);
    const waiting = this.pending.get(n.policy_id);
    if (waiting) {
      if (n.revision_idx >= waiting.latest.revision_idx) {
        waiting.latest = n;
        waiting.traceparent = traceparent;
      }
      return Promise.resolve();
    }
    const timer = setTimeout(() => {
      const entry = this.pending.get(n.policy_id);
      this.pending.delete(n.policy_id);
      if (entry) void this.send(entry.latest, entry.traceparent);
    }, this.windowMs);
    this.pending.set(n.policy_id, { latest: n, traceparent, timer });
    return Promise.resolve();
  }

  /** Sends everything still waiting, now. */
  async flush(): Promise<void> {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const e of entries) {
      clearTimeout(e.timer);
      await this.send(e.latest, e.traceparent);
    }
  }
}
