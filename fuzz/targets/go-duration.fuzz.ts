import { BadRequestError } from '@fleet/service-kit';
import { grantedPollMs, type CheckinConfig } from '@fleet/checkin-gateway';
import { parseGoDuration } from '@fleet/agent-protocol';

/**
 * Go durations, as in a checkin's `poll_timeout`: the parser never throws, what it accepts is a
 * finite number within Go's time.Duration range (int64 nanoseconds, about 292 years), and the poll
 * length granted from it is within the configured bounds or the request is a 400.
 */
const GO_MAX_MS = 9_223_372_036_854.775; // (2^63 - 1) ns in ms
const CONFIG = { longPollMs: 300_000, minPollMs: 60_000, maxPollMs: 3_600_000 } as CheckinConfig;

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  const ms = parseGoDuration(text);
  if (ms !== undefined && !(Number.isFinite(ms) && Math.abs(ms) <= GO_MAX_MS)) {
    throw new Error(`parseGoDuration(${JSON.stringify(text)}) = ${ms}: Go refuses durations past int64 nanoseconds`);
  }
  try {
    const granted = grantedPollMs(CONFIG, text);
    if (!(granted >= CONFIG.minPollMs && granted <= CONFIG.maxPollMs) && text !== '') {
      throw new Error(`grantedPollMs(${JSON.stringify(text)}) = ${granted}, outside [min, max]`);
    }
  } catch (err) {
    if (!(err instanceof BadRequestError)) throw err;
  }
}
