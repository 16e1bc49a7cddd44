import type { NotificationBus, NotificationEnvelope } from '@fleet/notifications';
import type { ApiKeyAuthenticator, Logger } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import type { LongPollRegistry } from './long-poll-registry';
import type { PolicyCache } from './policy-cache';

const PAGE = 1000;

/**
 * Turns changes into wake-ups for this replica's open polls. Notifications make it immediate; a
 * bounded poll of the policy and action change feeds makes it certain, so a lost notification
 * only delays a delivery.
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

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
  }

  private onNotification(envelope: NotificationEnvelope): void {
    if (this.closed) return;
    this.notificationsHandled += 1;
    const n = envelope.notification;
    switch (n.kind) {
      case 'policy-revision':
        this.policyChanged(n.policy_id, n.revision_idx);
        break;
      case 'action':
        // Wake the agents once the action is visible to their look-ups (else they would find nothing).
        void this.deps.store.actions
          .awaitVisible(n.seq_no)
          .catch((err: unknown) => this.deps.logger.warn({ err }, 'action visibility check failed'))
          .finally(() => this.deps.registry.wakeAgents(n.agents));
        break;
      case 'agent-revoked':
        this.deps.authenticator.forget(n.api_key_ids);
        this.deps.registry.revokeKeys(n.agent_id, n.api_key_ids);
        break;
    }
  }

  private policyChanged(policyId: string, revision: number, attempt = 0): void {
    const retry = () => {
      if (this.closed || attempt >= 5) return;
      setTimeout(() => this.policyChanged(policyId, revision, attempt + 1), 1_000).unref();
    };
    this.deps.policies
      .announce(policyId, revision)
      .then((prepared) => {
        if (prepared) this.deps.registry.wakePolicy(policyId, prepared.revision);
        if (!prepared || prepared.revision < revision) retry();
      })
      .catch((err: unknown) => {
        this.deps.logger.warn({ err, 'fleet.policy.id': policyId }, 'policy refresh failed');
        retry();
      });
  }

  private async readFeeds(): Promise<void> {
    if (this.policySeq === undefined || this.actionSeq === undefined) {
      this.policySeq = await this.deps.store.policies.checkpoint();
      this.actionSeq = await this.deps.store.actions.checkpoint();
      return;
    }
    for (;;) {
      const hits = await this.deps.store.policies.changesSince(this.policySeq, PAGE);
      for (const h of hits) this.policyChanged(h._source.policy_id, h._source.revision_idx);
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
