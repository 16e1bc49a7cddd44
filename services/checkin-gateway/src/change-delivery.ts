import { ChangeMonitor, latestRevisions, notificationAttributes, type FeedChange, type NotificationBus, type NotificationEnvelope } from '@fleet/notifications';
import type { ApiKeyAuthenticator, Logger } from '@fleet/service-kit';
import type { ActionDoc, FleetStore, PolicyRevisionDoc } from '@fleet/store';
import { activeSpanContext, contextFromTraceparent, inSpan, SpanKind, type SpanContext } from '@fleet/telemetry';
import type { LongPollRegistry } from './long-poll-registry';
import type { PolicyCache } from './policy-cache';

/**
 * The delivering side of the change monitor: this replica's open long polls are woken by what the
 * policy and action feeds show. A notification says how far a feed advanced, and the feed is read
 * up to there at once; the monitor's periodic read is the backstop, so a lost notification only
 * delays a delivery. Revocations need no feed: their notification ends the polls directly.
 *
 * Tracing: each notification is handled in a consumer span continuing the publisher's trace, and
 * the polls woken by the read it asked for link to it. Changes found by the periodic read are woken
 * from a `fleet.feed` span of their own.
 */
export class ChangeDelivery {
  readonly monitor: ChangeMonitor<PolicyRevisionDoc, ActionDoc>;
  private unsubscribe: (() => void) | undefined;
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
    pollIntervalMs: number,
  ) {
    this.monitor = new ChangeMonitor(
      { policies: deps.store.policies, actions: deps.store.actions },
      { policies: (changes, cause) => this.revisions(changes, cause), actions: (changes, cause) => this.actions(changes, cause) },
      deps.logger,
      { pollIntervalMs },
    );
  }

  async start(): Promise<void> {
    this.unsubscribe = this.deps.bus.subscribe((envelope) => this.onNotification(envelope));
    await this.monitor.start();
  }

  /** The highest action position this replica has read: every action up to it has woken its polls. */
  actionsSeen(): number | undefined {
    return this.monitor.actions.at;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    await this.monitor.close();
  }

  private onNotification(envelope: NotificationEnvelope): void {
    if (this.closed) return;
    this.notificationsHandled += 1;
    const n = envelope.notification;
    void inSpan(
      `fleet.notification ${n.kind}`,
      { kind: SpanKind.CONSUMER, parent: contextFromTraceparent(envelope.traceparent), attributes: notificationAttributes(n) },
      async (span) => {
        const cause = activeSpanContext();
        let woken = 0;
        switch (n.kind) {
          case 'policy-revision':
            woken = await this.monitor.policies.reach(n.seq_no, cause);
            break;
          case 'action':
            woken = await this.monitor.actions.reach(n.seq_no, cause);
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

  /** Caches each policy's newest revision read and wakes the polls behind it. */
  private async revisions(changes: FeedChange<PolicyRevisionDoc>[], cause: SpanContext | undefined): Promise<number> {
    let woken = 0;
    for (const c of latestRevisions(changes, (id) => this.deps.policies.known(id))) {
      const wake = async (by: SpanContext | undefined): Promise<number> => {
        const prepared = await this.deps.policies.accept(c._source);
        return this.deps.registry.wakePolicy(prepared.policyId, prepared.revision, by);
      };
      if (cause) woken += await wake(cause);
      else {
        const n = { kind: 'policy-revision' as const, policy_id: c._source.policy_id, revision_idx: c._source.revision_idx, seq_no: c._seq_no };
        woken += await inSpan('fleet.feed policy-revision', { kind: SpanKind.INTERNAL, attributes: notificationAttributes(n) }, () =>
          wake(activeSpanContext()),
        );
      }
    }
    return woken;
  }

  private actions(changes: FeedChange<ActionDoc>[], cause: SpanContext | undefined): number {
    let woken = 0;
    for (const c of changes) if (c._source.agents?.length) woken += this.deps.registry.wakeAgents(c._source.agents, 'actions', cause);
    return woken;
  }
}
