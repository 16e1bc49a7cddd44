import { currentTraceparent } from '@fleet/telemetry';
import { randomUUID } from 'node:crypto';
import { PolicyDebouncer } from './policy-debouncer';
import { InMemoryClusterBoard, type ClusterBoard } from './cluster-board';
import { InProcessDeliveryLedger, type DeliveryLedger } from './delivery-ledger';

/** A new `.fleet-policies` revision was stored (and prepared) for `policy_id`. */
export interface PolicyRevisionNotification {
  kind: 'policy-revision';
  policy_id: string;
  revision_idx: number;
  seq_no: number;
}

/** A new `.fleet-actions` document addressed to `agents`. */
export interface ActionNotification {
  kind: 'action';
  action_doc_id: string;
  seq_no: number;
  agents: string[];
}

/** An agent was deactivated or its access key revoked: its open long polls must end. */
export interface AgentRevokedNotification {
  kind: 'agent-revoked';
  agent_id: string;
  api_key_ids: string[];
}

export type FleetNotification = PolicyRevisionNotification | ActionNotification | AgentRevokedNotification;

/** Span attributes naming what a notification is about (publisher and receivers use the same). */
export function notificationAttributes(n: FleetNotification): Record<string, string | number> {
  switch (n.kind) {
    case 'policy-revision':
      return { 'fleet.policy.id': n.policy_id, 'fleet.policy.revision': n.revision_idx };
    case 'action':
      return { 'fleet.action.doc_id': n.action_doc_id, 'fleet.action.agents': n.agents.length };
    case 'agent-revoked':
      return { 'fleet.agent.id': n.agent_id };
  }
}

export interface NotificationEnvelope {
  /** Id of the publishing process. */
  sender: string;
  sent_at: string;
  /** W3C trace context of the publishing span, when tracing is on. */
  traceparent?: string;
  notification: FleetNotification;
}

export type NotificationHandler = (envelope: NotificationEnvelope) => void;

/** What a bus sends: the notification, its sender, when, and the trace it continues. */
export function envelopeOf(sender: string, notification: FleetNotification, traceparent: string | undefined): NotificationEnvelope {
  return { sender, sent_at: new Date().toISOString(), notification, ...(traceparent ? { traceparent } : {}) };
}

/**
 * Tells every checkin gateway about changes. Delivery is best effort (a lost message delays, never
 * loses, a delivery: gateways also poll the change feeds); handlers must be idempotent.
 */
export interface NotificationBus {
  readonly senderId: string;
  /** `traceparent` defaults to the active span's, so receivers continue the publisher's trace. */
  publish(notification: FleetNotification, traceparent?: string): Promise<void>;
  subscribe(handler: NotificationHandler): () => void;
  /** Idempotent. */
  close(): Promise<void>;
  /** Whether each connection of the bus is up, by connection name (none in process). */
  connectionStates(): Record<string, boolean>;
  /** Figures shared by the replicas this bus connects (see ClusterBoard). */
  readonly board: ClusterBoard;
  /** Which agents were sent which rollout, shared by the replicas this bus connects (see DeliveryLedger). */
  readonly ledger: DeliveryLedger;
}

/** The all-in-one bus: fan-out inside one process (handlers run on a later microtask). */
export class InProcessBus implements NotificationBus {
  readonly senderId: string;
  readonly board: ClusterBoard = new InMemoryClusterBoard();
  readonly ledger: DeliveryLedger = new InProcessDeliveryLedger();
  private readonly handlers = new Set<NotificationHandler>();
  private readonly debouncer: PolicyDebouncer;
  private closed = false;

  constructor(opts: { senderId?: string; policyDebounceMs?: number } = {}) {
    this.senderId = opts.senderId ?? randomUUID();
    this.debouncer = new PolicyDebouncer(opts.policyDebounceMs ?? 0, (n, tp) => this.deliver(n, tp));
  }

  publish(notification: FleetNotification, traceparent: string | undefined = currentTraceparent()): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (notification.kind === 'policy-revision') return this.debouncer.offer(notification, traceparent);
    return this.deliver(notification, traceparent);
  }

  subscribe(handler: NotificationHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  connectionStates(): Record<string, boolean> {
    return {};
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.debouncer.flush();
    this.closed = true;
    this.handlers.clear();
    await this.ledger.close();
  }

  private deliver(notification: FleetNotification, traceparent?: string): Promise<void> {
    const envelope = envelopeOf(this.senderId, notification, traceparent);
    for (const handler of this.handlers) queueMicrotask(() => handler(envelope));
    return Promise.resolve();
  }
}
