import type { Logger } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';

export interface ActionJanitorConfig {
  intervalMs: number;
  /** Actions are deleted this long after they expired (reference: 30 days). */
  retainExpiredMs: number;
}

/** Deletes actions whose expiration lies further back than the retention, on a fixed interval. */
export class ActionJanitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly store: FleetStore,
    private readonly config: ActionJanitorConfig,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.config.intervalMs);
    this.timer.unref();
  }

  /** One sweep (shared if one is running); resolves to how many actions were deleted. */
  sweep(now: Date = new Date()): Promise<number> {
    this.running ??= this.store.actions
      .deleteExpiredBefore(new Date(now.getTime() - this.config.retainExpiredMs))
      .then((deleted) => {
        if (deleted) this.logger.info({ deleted }, 'expired actions deleted');
        return deleted;
      })
      .catch((err: unknown) => {
        this.logger.warn({ err }, 'expired action sweep failed');
        return 0;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
