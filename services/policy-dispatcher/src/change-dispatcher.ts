import { ChangeMonitor, latestRevisions, notificationAttributes, type FeedChange, type FleetNotification, type NotificationBus } from '@fleet/notifications';
import type { Logger } from '@fleet/service-kit';
import type { ActionDoc, FleetStore, PolicyRevisionDoc, WatchedCollection } from '@fleet/store';
import { activeContext, inSpan, SpanKind, type Context } from '@fleet/telemetry';

/**
 * What a write tells the change monitor: which feed to read now. Domain functions call it after they
 * write a policy revision or an action, so a change travels one way (write, detection, notification,
 * delivery) and the store never calls back up. The write's trace goes along.
 */
export interface ChangeSignal {
  wrote(collection: WatchedCollection): void;
}

/**
 * The publishing side of the change monitor: what the policy and action feeds show is announced to
 * every gateway. A revision no newer than one already announced is skipped; several revisions of a
 * policy read together are announced once, as the latest. A position moves only after its
 * announcements were published, so a failure is read again, never skipped.
 *
 * Tracing: a write made by this process (a management API request) asks for a read (`wrote`); what that read
 * finds is announced in a producer span continuing the trace of the latest such write, and the
 * notification carries that span's traceparent to every gateway.
 */
export class ChangeDispatcher implements ChangeSignal {
  readonly monitor: ChangeMonitor<PolicyRevisionDoc, ActionDoc>;
  private readonly announced = new Map<string, number>();
  /** Trace context of the latest local write to each feed not yet covered by a read. */
  private readonly writeContexts = new Map<WatchedCollection, Context>();
  published = 0;

  constructor(
    store: FleetStore,
    private readonly bus: NotificationBus,
    private readonly logger: Logger,
    pollIntervalMs: number,
  ) {
    this.monitor = new ChangeMonitor(
      { policies: store.policies, actions: store.actions },
      { policies: (changes) => this.announceRevisions(changes), actions: (changes) => this.announceActions(changes) },
      logger,
      { pollIntervalMs },
    );
  }

  start(): Promise<void> {
    return this.monitor.start();
  }

  /** A write of this process landed in `collection`: read that feed now, in the write's trace. */
  wrote(collection: WatchedCollection): void {
    this.writeContexts.set(collection, activeContext());
    const cursor = collection === 'policies' ? this.monitor.policies : this.monitor.actions;
    cursor.read().catch((err: unknown) => this.logger.warn({ err }, 'change dispatch read failed; will retry'));
  }

  /** Reads both feeds now. Resolves when they are caught up (failures are logged and retried). */
  kick(): Promise<void> {
    return this.monitor.poll();
  }

  close(): Promise<void> {
    return this.monitor.close();
  }

  /**
   * The trace of the write a change comes from, taken once the feed has been read (not when the read
   * started): a timer's read can find a write that landed while it ran, and that write has reported
   * itself (`wrote`) by the time it is visible.
   */
  private takeWriteContext(collection: WatchedCollection): Context | undefined {
    const parent = this.writeContexts.get(collection);
    this.writeContexts.delete(collection);
    return parent;
  }

  private async announceRevisions(changes: FeedChange<PolicyRevisionDoc>[]): Promise<number> {
    const parent = this.takeWriteContext('policies');
    for (const c of latestRevisions(changes, (id) => this.announced.get(id))) {
      const { policy_id: id, revision_idx: revision } = c._source;
      await this.announce({ kind: 'policy-revision', policy_id: id, revision_idx: revision, seq_no: c._seq_no }, parent);
      this.announced.set(id, revision);
      this.published += 1;
      this.logger.info({ 'fleet.policy.id': id, revision }, 'policy revision announced');
    }
    return 0;
  }

  private async announceActions(changes: FeedChange<ActionDoc>[]): Promise<number> {
    const parent = this.takeWriteContext('actions');
    for (const c of changes) {
      const agents = c._source.agents ?? [];
      if (!agents.length) continue;
      await this.announce({ kind: 'action', action_doc_id: c._id, seq_no: c._seq_no, agents }, parent);
      this.published += 1;
    }
    return 0;
  }

  /** Publishes in a producer span; the bus sends that span's traceparent along. */
  private announce(n: FleetNotification, parent: Context | undefined): Promise<void> {
    const attributes = notificationAttributes(n);
    return inSpan(`fleet.notify ${n.kind}`, { kind: SpanKind.PRODUCER, attributes, ...(parent ? { parent } : {}) }, () => this.bus.publish(n));
  }
}
