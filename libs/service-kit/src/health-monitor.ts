import type { FleetServerState } from '@fleet/agent-protocol';
import type { Logger } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';

/**
 * Fleet Server state for `/api/status`: HEALTHY while the store answers, DEGRADED while it does not
 * (also right from the start, when it is down then), STOPPING once shutdown begins. Checked every interval,
 * never per request.
 */
export class HealthMonitor {
  private current: FleetServerState = 'STARTING';
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(
    private readonly store: FleetStore,
    private readonly logger: Logger,
    private readonly intervalMs = 5_000,
  ) {}

  get state(): FleetServerState {
    return this.stopping ? 'STOPPING' : this.current;
  }

  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  markStopping(): void {
    this.stopping = true;
    clearInterval(this.timer);
  }

  async check(): Promise<FleetServerState> {
    try {
      await this.store.ping();
      this.set('HEALTHY');
    } catch (err) {
      this.set('DEGRADED', err);
    }
    return this.state;
  }

  private set(next: FleetServerState, err?: unknown): void {
    if (next !== this.current) this.logger.info({ from: this.current, to: next, err }, 'fleet server state changed');
    this.current = next;
  }
}
