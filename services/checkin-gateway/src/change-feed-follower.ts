import { notificationAttributes, type NotificationBus, type NotificationEnvelope } from '@fleet/notifications';
import type { ApiKeyAuthenticator, Logger } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import { activeSpanContext, contextFromTraceparent, inSpan, SpanKind, type SpanContext } from '@fleet/telemetry';
import type { LongPollRegistry } from './long-poll-registry';
import type { PolicyCache } from './policy-cache';

const PAGE = 1000;

/**
 * Turns changes into wake-ups for this replica's open polls. Notifications make it immediate; a
 * bounded poll of the policy and action change feeds makes it certain, so a lost notification
 * only delays a delivery.
 *
 * Tracing: each notification is handled in a consumer span that continues the publisher's trace
 * (its traceparent); the polls it wakes answer in their own requests' traces, with a link to it.
 */
export class ChangeFeedFollower {
  /** Positions in the feeds; undefined until the store first answers (no replay of history). */
  private policySeq: number | undefined;
  private actionSeq: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;
  notificationsHandled = 0;

  constructor(
    private readonly deps: {
      store: FleetStore;
      bus: NotificationBus;
      registry: LongPollRegistry;
      policies: PolicyCache;
      authenticator: ApiKeyAuthenticator;
      logger: Logger;
    },
    private readonly pollIntervalMs: number,
  ) {}

  async start(): Promise<void> {
    this.unsubscribe = this.deps.bus.subscribe((envelope) => this.onNotification(envelope));
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  /** Reads both feeds once (shared if already running). */
  poll(): Promise<void> {
    this.polling ??= this.readFeeds()
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'change feed poll failed'))
      .finally(() => {
        this.polling = undefined;
      });
    return this.polling;
  }

  /** The action feed's position: every action past it will wake its polls (undefined: not started). */
  actionsSeen(): number | undefined {
    return this.actionSeq;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
  }

  private onNotification(envelope: NotificationEnvelope): void {
    if (this.closed) return;
    this.notificationsHandled += 1;
    const n = envelope.notification;
    const attributes = notificationAttributes(n);
    void inSpan(
      `fleet.notification ${n.kind}`,
      { kind: SpanKind.CONSUMER, parent: contextFromTraceparent(envelope.traceparent), attributes },
      async (span) => {
        const cause = activeSpanContext();
        let woken = 0;
        switch (n.kind) {
          case 'policy-revision':
            woken = await this.policyChanged(n.policy_id, n.revision_idx, cause);
            break;
          case 'action':
            // Wake the agents once the action is visible to their look-ups (else they would find nothing).
            await this.deps.store.actions
              .awaitVisible(n.seq_no)
              .catch((err: unknown) => this.deps.logger.warn({ err }, 'action visibility check failed'));
            woken = this.deps.registry.wakeAgents(n.agents, 'actions', cause);
            break;
          case 'agent-revoked':
            this.deps.authenticator.forget(n.api_key_ids);
            woken = this.deps.registry.revokeKeys(n.agent_id, n.api_key_ids);
            break;
        }
        span.setAttribute('fleet.longpolls.woken', woken);
      },
    );
  }

  /**
   * Refreshes the policy cache and wakes the polls behind on it; retried (a few times, a second
   * apart) while the store does not show the announced revision yet. Resolves with the number of
   * polls the first attempt woke; never rejects.
   */
  private async policyChanged(policyId: string, revision: number, cause?: SpanContext, attempt = 0): Promise<number> {
    const retry = () => {
      if (this.closed || attempt >= 5) return;
      setTimeout(() => void this.policyChanged(policyId, revision, cause, attempt + 1), 1_000).unref();
    };
    try {
      const prepared = await this.deps.policies.announce(policyId, revision);
      const woken = prepared ? this.deps.registry.wakePolicy(policyId, prepared.revision, cause) : 0;
      if (!prepared || prepared.revision < revision) retry();
      return woken;
    } catch (err) {
      this.deps.logger.warn({ err, 'fleet.policy.id': policyId }, 'policy refresh failed');
      retry();
      return 0;
    }
  }

  private async readFeeds(): Promise<void> {
    if (this.policySeq === undefined || this.actionSeq === undefined) {
      this.policySeq = await this.deps.store.policies.checkpoint();
      this.actionSeq = await this.deps.store.actions.checkpoint();
      return;
    }
    for (;;) {
      const hits = await this.deps.store.policies.changesSince(this.policySeq, PAGE);
      // The fallback for a lost or late notification: what it wakes links to this read, as a
      // notification's wake links to its consumer span.
      for (const h of hits) {
        const n = { kind: 'policy-revision' as const, policy_id: h._source.policy_id, revision_idx: h._source.revision_idx, seq_no: h._seq_no };
        void inSpan('fleet.feed policy-revision', { kind: SpanKind.INTERNAL, attributes: notificationAttributes(n) }, () =>
          this.policyChanged(n.policy_id, n.revision_idx, activeSpanContext()),
        );
      }
      const last = hits[hits.length - 1];
      if (last) this.policySeq = last._seq_no;
      if (hits.length < PAGE) break;
    }
    for (;;) {
      const hits = await this.deps.store.actions.changesSince(this.actionSeq, PAGE);
      for (const h of hits) if (h._source.agents?.length) this.deps.registry.wakeAgents(h._source.agents);
      const last = hits[hits.length - 1];
      if (last) this.actionSeq = last._seq_no;
      if (hits.length < PAGE) break;
    }
  }
}
