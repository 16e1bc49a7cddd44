import { currentTraceparent } from '@fleet/telemetry';
import { Redis, type RedisOptions } from 'ioredis';
import { randomUUID } from 'node:crypto';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { envelopeOf, type FleetNotification, type NotificationBus, type NotificationEnvelope, type NotificationHandler } from './notification-bus';
import { PolicyDebouncer } from './policy-debouncer';
import { RedisClusterBoard, type ClusterBoard } from './cluster-board';
import { RedisDeliveryLedger } from './delivery-ledger';
import { TlsSafeConnector } from './redis-tls-connector';

export interface RedisBusOptions {
  /** `redis://host:port[/db]`, or `rediss://` for TLS. */
  url: string;
  /** TLS options of a `rediss://` URL (CA, client certificate, verification), built by the caller. */
  tls?: TlsOptions;
  channel?: string;
  senderId?: string;
  /** Bursts of revisions of one policy within this window are announced once, as the newest. */
  policyDebounceMs?: number;
  /** Called with failures the bus absorbs (publishing while Redis is down). */
  onError?: (err: Error, context: string) => void;
  /** Called when the subscription is (re)established after a connection loss. */
  onResubscribed?: () => void;
}

/** The bus could not reach Redis at start (refused, unreachable, or a TLS handshake that failed). */
export class RedisConnectError extends Error {
  override name = 'RedisConnectError';
}

/** Where a Redis URL points, without its credentials (for messages). */
export function redisEndpoint(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid URL)';
  }
}

const KINDS = new Set(['policy-revision', 'action', 'agent-revoked']);

function parseEnvelope(raw: string): NotificationEnvelope | undefined {
  try {
    const value = JSON.parse(raw) as Partial<NotificationEnvelope>;
    const n = value.notification as { kind?: unknown } | undefined;
    if (typeof value.sender !== 'string' || typeof value.sent_at !== 'string' || !n || !KINDS.has(String(n.kind))) return undefined;
    return value as NotificationEnvelope;
  } catch {
    return undefined;
  }
}

/**
 * Notifications between replicas over Redis pub/sub: one connection publishes, another (in
 * subscriber mode, which can do nothing else) listens. Delivery is best effort, as the port says:
 * publishing while Redis is down fails fast and is absorbed (gateways also poll the change feeds),
 * and the subscriber re-subscribes by itself when Redis comes back.
 */
export class RedisNotificationBus implements NotificationBus {
  readonly senderId: string;
  private readonly channel: string;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly handlers = new Set<NotificationHandler>();
  private readonly debouncer: PolicyDebouncer;
  private closing: Promise<void> | undefined;
  /** The last connection error (a failed TLS handshake, a refusal), to say why a start failed. */
  private lastError: Error | undefined;
  received = 0;
  dropped = 0;
  /** On the publishing connection (commands fail fast while Redis is down). */
  readonly board: ClusterBoard;
  /** On the publishing connection too, under `<channel>:rollout:`; closed before the connections. */
  readonly ledger: RedisDeliveryLedger;

  private constructor(private readonly opts: RedisBusOptions) {
    this.senderId = opts.senderId ?? randomUUID();
    this.channel = opts.channel ?? 'fleet:notifications';
    const common: RedisOptions = {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
      connectionName: `fleet-${this.senderId}`,
      Connector: TlsSafeConnector,
      ...(opts.tls ? { tls: opts.tls } : {}),
    };
    // The publisher fails fast while disconnected instead of queueing without bound.
    this.publisher = new Redis(opts.url, { ...common, enableOfflineQueue: false, connectionName: `fleet-pub-${this.senderId}` });
    this.subscriber = new Redis(opts.url, { ...common, connectionName: `fleet-sub-${this.senderId}` });
    this.board = new RedisClusterBoard(this.publisher, `${this.channel}:board`);
    this.ledger = new RedisDeliveryLedger({
      redis: this.publisher,
      prefix: `${this.channel}:rollout:`,
      onError: (err, context) => this.opts.onError?.(err, `delivery ledger ${context}`),
    });
    for (const [role, client] of [['publisher', this.publisher], ['subscriber', this.subscriber]] as const) {
      client.on('error', (err: Error) => {
        this.lastError = err;
        this.opts.onError?.(err, `redis ${role}`);
      });
    }
    this.subscriber.on('message', (_channel: string, raw: string) => this.onMessage(raw));
    this.subscriber.on('ready', () => this.opts.onResubscribed?.());
    this.debouncer = new PolicyDebouncer(opts.policyDebounceMs ?? 100, (n, tp) => this.send(n, tp));
  }

  /**
   * Connects both connections and subscribes; rejects with a `RedisConnectError` that gives the
   * underlying reason (e.g. the certificate the TLS handshake refused) if Redis cannot be reached now.
   */
  static async connect(opts: RedisBusOptions): Promise<RedisNotificationBus> {
    const bus = new RedisNotificationBus(opts);
    try {
      await Promise.all([bus.publisher.connect(), bus.subscriber.connect()]);
      await bus.subscriber.subscribe(bus.channel);
      return bus;
    } catch (err) {
      // ioredis rejects with "Connection is closed."; the reason is in the error event before it.
      const reason = bus.lastError?.message ?? (err instanceof Error ? err.message : String(err));
      await bus.close();
      throw new RedisConnectError(`notification bus: cannot connect to Redis at ${redisEndpoint(opts.url)}: ${reason}`, { cause: bus.lastError ?? err });
    }
  }

  connectionStates(): Record<string, boolean> {
    return { 'bus-publisher': this.publisher.status === 'ready', 'bus-subscriber': this.subscriber.status === 'ready' };
  }

  get connected(): boolean {
    return this.publisher.status === 'ready' && this.subscriber.status === 'ready';
  }

  publish(notification: FleetNotification, traceparent: string | undefined = currentTraceparent()): Promise<void> {
    if (this.closing) return Promise.resolve();
    if (notification.kind === 'policy-revision') return this.debouncer.offer(notification, traceparent);
    return this.send(notification, traceparent);
  }

  subscribe(handler: NotificationHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.debouncer.flush().catch(() => undefined);
      this.handlers.clear();
      await this.ledger.close();
      await Promise.allSettled([this.publisher.quit(), this.subscriber.quit()]);
      this.publisher.disconnect();
      this.subscriber.disconnect();
    })();
    return this.closing;
  }

  private async send(notification: FleetNotification, traceparent?: string): Promise<void> {
    const envelope = envelopeOf(this.senderId, notification, traceparent);
    try {
      await this.publisher.publish(this.channel, JSON.stringify(envelope));
    } catch (err) {
      this.opts.onError?.(err instanceof Error ? err : new Error(String(err)), 'publish');
    }
  }

  private onMessage(raw: string): void {
    const envelope = parseEnvelope(raw);
    if (!envelope) {
      this.dropped += 1;
      return;
    }
    this.received += 1;
    for (const handler of this.handlers) handler(envelope);
  }
}
