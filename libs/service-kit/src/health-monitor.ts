import type { FleetStore } from '@fleet/store';
import { Router } from 'express';
import type { Logger } from './logger';

/** The states of Fleet Server's `/api/status` this process can be in. */
export type ServiceState = 'STARTING' | 'HEALTHY' | 'DEGRADED' | 'STOPPING';

/**
 * The process's state, for `/api/status` and the readiness probe: HEALTHY while the store answers, DEGRADED while it does not
 * (also right from the start, when it is down then), STOPPING once shutdown begins. Checked every interval,
 * never per request.
 */
export class HealthMonitor {
  private current: ServiceState = 'STARTING';
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly detailSources = new Map<string, () => unknown>();

  constructor(
    private readonly store: FleetStore,
    private readonly logger: Logger,
    private readonly intervalMs = 5_000,
  ) {}

  get state(): ServiceState {
    return this.stopping ? 'STOPPING' : this.current;
  }

  /** Checks once, then on the interval; a second call does nothing. */
  async start(): Promise<void> {
    if (this.timer || this.stopping) return;
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
    await this.check();
  }

  /** Adds a part to what `/api/status` reports in `details`, read when asked (e.g. the TLS certificate). */
  addDetail(name: string, read: () => unknown): void {
    this.detailSources.set(name, read);
  }

  details(): Record<string, unknown> | undefined {
    if (this.detailSources.size === 0) return undefined;
    return Object.fromEntries([...this.detailSources].map(([name, read]) => [name, read()]));
  }

  markStopping(): void {
    this.stopping = true;
    clearInterval(this.timer);
  }

  async check(): Promise<ServiceState> {
    try {
      await this.store.ping();
      this.set('HEALTHY');
    } catch (err) {
      this.set('DEGRADED', err);
    }
    return this.state;
  }

  private set(next: ServiceState, err?: unknown): void {
    if (next !== this.current) this.logger.info({ from: this.current, to: next, err }, 'fleet server state changed');
    this.current = next;
  }
}

/**
 * Kubernetes-style probes: `/livez` answers while the process runs; `/readyz` answers 200 only while
 * the store answers and the process is not shutting down, so load balancers send it no new work
 * otherwise. Both read the monitor's last check; no probe reaches the store.
 */
export function probeRoutes(health: HealthMonitor): Router {
  const router = Router();
  router.get('/livez', (_req, res) => {
    res.status(200).json({ status: 'alive' });
  });
  router.get('/readyz', (_req, res) => {
    const state = health.state;
    if (state === 'HEALTHY') {
      res.status(200).json({ status: state });
      return;
    }
    res.status(503).json({ statusCode: 503, error: 'Service Unavailable', message: `not ready: ${state}`, status: state });
  });
  return router;
}
