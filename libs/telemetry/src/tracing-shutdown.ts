/**
 * The preload registers how to flush and stop its SDK here (a global slot, because the preload
 * and the service may load this package through different paths); the service's shutdown calls
 * it last, so the spans of the drain are exported too.
 */
const SLOT = Symbol.for('fleet.tracing.shutdown');
type Slot = { [SLOT]?: () => Promise<void> };

export function registerTracingShutdown(fn: () => Promise<void>): void {
  (globalThis as Slot)[SLOT] = fn;
}

/** Flushes and stops tracing, if the preload started it. Idempotent; never rejects. */
export async function shutdownTracing(): Promise<void> {
  const slot = globalThis as Slot;
  const fn = slot[SLOT];
  delete slot[SLOT];
  if (fn) await fn().catch(() => undefined);
}
