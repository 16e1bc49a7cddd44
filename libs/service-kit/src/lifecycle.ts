import type { Logger } from './logger';

type Hook = { name: string; fn: () => Promise<void> | void };

/**
 * Ordered shutdown: hooks run in reverse registration order, each awaited and time-boxed, failures
 * logged and not rethrown. `close()` is idempotent: every caller gets the same promise.
 */
export class Lifecycle {
  private readonly hooks: Hook[] = [];
  private closing: Promise<void> | undefined;
  private signalsInstalled = false;

  constructor(
    private readonly logger: Logger,
    private readonly hookTimeoutMs = 15_000,
  ) {}

  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  onClose(name: string, fn: () => Promise<void> | void): void {
    this.hooks.push({ name, fn });
  }

  close(): Promise<void> {
    this.closing ??= this.runHooks();
    return this.closing;
  }

  /** SIGTERM/SIGINT close gracefully; a second signal exits at once. */
  installSignalHandlers(exit: (code: number) => void = (code) => process.exit(code)): void {
    if (this.signalsInstalled) return;
    this.signalsInstalled = true;
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.isClosing) {
        this.logger.warn({ signal }, 'second signal, exiting now');
        exit(1);
        return;
      }
      this.logger.info({ signal }, 'shutting down');
      this.close().then(
        () => exit(0),
        () => exit(1),
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  private async runHooks(): Promise<void> {
    for (const hook of [...this.hooks].reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(hook.fn),
          new Promise<void>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${this.hookTimeoutMs} ms`)), this.hookTimeoutMs);
          }),
        ]);
      } catch (err) {
        this.logger.error({ err, hook: hook.name }, 'shutdown step failed');
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
