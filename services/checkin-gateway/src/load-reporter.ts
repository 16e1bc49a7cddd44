import { GATEWAY_LOAD_REPORT_MS, GATEWAY_LOAD_TOPIC, GATEWAY_LOAD_TTL_MS, gatewayLoadValue, type ClusterBoard } from '@fleet/notifications';
import type { Logger } from '@fleet/service-kit';

/**
 * Publishes this gateway's load (checkins per second since the last report, open long polls) on
 * the cluster board every few seconds, with a TTL: the console sums the live replicas' reports.
 */
export class GatewayLoadReporter {
  private checkins = 0;
  private lastAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private warnedAt = 0;

  constructor(
    private readonly deps: { board: ClusterBoard; replicaId: string; openLongPolls: () => number; logger: Logger },
    private readonly intervalMs = GATEWAY_LOAD_REPORT_MS,
  ) {}

  /** Counts one checkin request. */
  noteCheckin(): void {
    this.checkins += 1;
  }

  start(): void {
    if (this.timer) return;
    this.lastAt = Date.now();
    void this.report();
    this.timer = setInterval(() => void this.report(), this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One report; a board that cannot be reached is logged (at most once a minute) and skipped. */
  async report(): Promise<void> {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    const checkinsPerSecond = Math.round((this.checkins / seconds) * 100) / 100;
    this.checkins = 0;
    this.lastAt = now;
    const value = gatewayLoadValue({ checkins_per_second: checkinsPerSecond, open_long_polls: this.deps.openLongPolls(), reported_at: new Date(now).toISOString() });
    try {
      await this.deps.board.report(GATEWAY_LOAD_TOPIC, this.deps.replicaId, value, Math.max(GATEWAY_LOAD_TTL_MS, 3 * this.intervalMs));
    } catch (err) {
      if (now - this.warnedAt > 60_000) {
        this.warnedAt = now;
        this.deps.logger.warn({ err }, 'gateway load report failed; the console misses this replica until it succeeds');
      }
    }
  }
}
