import { notificationAttributes, type FleetNotification, type NotificationBus } from '@fleet/notifications';
import type { Logger } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import { activeContext, inSpan, SpanKind, type Context } from '@fleet/telemetry';

const PAGE = 1000;

/**
 * Follows the policy and action change feeds in `_seq_no` order and tells the gateways. A
 * revision no newer than the one already announced is ignored; several revisions of one policy
 * seen in one pass are announced once, as the latest. A checkpoint advances only after its
 * notifications were published, so a failure is retried, never skipped.
 *
 * Tracing: a write made by this process (a management API request) wakes a pass; the pass
 * announces what it finds in a producer span that continues the trace of the latest such write,
 * and the notification carries that span's traceparent to every gateway.
 */
export class ChangeDispatcher {
  /** Positions in the feeds; undefined until the store first answers (no replay of history). */
  private policySeq: number | undefined;
  private actionSeq: number | undefined;
  private readonly announced = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  /** Trace context of the latest local write not yet covered by a pass. */
  private writeContext: Context | undefined;
  published = 0;

  constructor(
    private readonly store: FleetStore,
    private readonly bus: NotificationBus,
    private readonly logger: Logger,
    private readonly pollIntervalMs: number,
  ) {}

  async start(): Promise<void> {
    await this.kick();
    this.unsubscribe = this.store.onLocalWrite(() => {
      this.writeContext = activeContext();
      void this.kick();
    });
    this.timer = setInterval(() => void this.kick(), this.pollIntervalMs);
    this.timer.unref();
  }

  /** Runs a pass now (or right after the running one). Resolves when the feeds are caught up. */
  kick(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch (err) {
          this.logger.warn({ err }, 'change dispatch pass failed; will retry');
          break;
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    await this.running;
  }

  private async pass(): Promise<void> {
    if (this.policySeq === undefined || this.actionSeq === undefined) {
      this.policySeq = await this.store.policies.checkpoint();
      this.actionSeq = await this.store.actions.checkpoint();
      return;
    }
    // The trace of the write a change comes from is taken once the feed has been read, not when the
    // pass starts: a pass started by the timer can read a write that landed while it ran, and that
    // write has reported itself (onLocalWrite) by the time it is visible to the feed.
    let parent: Context | undefined;
    const takeWriteContext = () => {
      if (this.writeContext) parent = this.writeContext;
      this.writeContext = undefined;
    };
    for (;;) {
      const hits = await this.store.policies.changesSince(this.policySeq, PAGE);
      takeWriteContext();
      const latest = new Map<string, { revision: number; seq: number }>();
      for (const h of hits) {
        const { policy_id: id, revision_idx: revision } = h._source;
        if (revision <= (this.announced.get(id) ?? -1)) {
          this.logger.debug({ 'fleet.policy.id': id, revision }, 'stale policy revision ignored');
          continue;
        }
        const seen = latest.get(id);
        if (!seen || revision > seen.revision) latest.set(id, { revision, seq: h._seq_no });
      }
      for (const [id, { revision, seq }] of latest) {
        await this.announce({ kind: 'policy-revision', policy_id: id, revision_idx: revision, seq_no: seq }, parent);
        this.announced.set(id, revision);
        this.published += 1;
        this.logger.info({ 'fleet.policy.id': id, revision }, 'policy revision announced');
      }
      const last = hits[hits.length - 1];
      if (last) this.policySeq = last._seq_no;
      if (hits.length < PAGE) break;
    }
    for (;;) {
      const hits = await this.store.actions.changesSince(this.actionSeq, PAGE);
      takeWriteContext();
      for (const h of hits) {
        const agents = h._source.agents ?? [];
        if (agents.length) {
          await this.announce({ kind: 'action', action_doc_id: h._id, seq_no: h._seq_no, agents }, parent);
          this.published += 1;
        }
        this.actionSeq = h._seq_no;
      }
      if (hits.length < PAGE) break;
    }
  }

  /** Publishes in a producer span; the bus sends that span's traceparent along. */
  private announce(n: FleetNotification, parent: Context | undefined): Promise<void> {
    const attributes = notificationAttributes(n);
    return inSpan(`fleet.notify ${n.kind}`, { kind: SpanKind.PRODUCER, attributes, ...(parent ? { parent } : {}) }, () => this.bus.publish(n));
  }
}
