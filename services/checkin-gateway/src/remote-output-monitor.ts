import type { Logger } from '@fleet/service-kit';
import { describeError, type RemoteOutputs } from '@fleet/store';

/**
 * The periodic check of the remote Elasticsearch outputs this replica's agents use, as the
 * reference's policy monitor pings them: one pass at a time, each writing an output health
 * document where an output's state changed (RemoteOutputs.report).
 */
export class RemoteOutputMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly outputs: RemoteOutputs,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.timer || this.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** One pass (skipped while the previous one runs); never rejects. */
  tick(): Promise<void> {
    this.running ??= this.outputs
      .pingAll()
      .then((states) => {
        if (Object.keys(states).length) this.logger.debug({ outputs: states }, 'remote outputs checked');
      })
      .catch((err: unknown) => this.logger.warn({ err: describeError(err) }, 'remote output check failed'))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await this.outputs.close();
  }
}
