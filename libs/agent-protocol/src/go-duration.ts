const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.Duration is int64 nanoseconds: about 292 years either way. */
const GO_MAX_MS = 9_223_372_036_854.775; // (2^63 - 1) ns, to the precision a double holds at this size

/**
 * Parses a Go duration string (`"35m0s"`, `"1.5h"`, `"300ms"`) to milliseconds; undefined if invalid
 * or, as Go's time.ParseDuration says, out of range.
 */
export function parseGoDuration(value: string): number | undefined {
  if (value === '0') return 0;
  const m = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(value);
  if (!m) return undefined;
  let total = 0;
  for (const part of value.replace(/^[-+]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * (UNIT_MS[part[2] ?? ''] ?? Number.NaN);
  }
  if (!Number.isFinite(total) || total > GO_MAX_MS) return undefined;
  return m[1] === '-' ? -total : total;
}

/** Formats milliseconds the way Go prints a time.Duration (`"35m0s"`). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}
