import { InputError } from '@fleet/service-kit';
import { parseAgentKuery } from '@fleet/policy-dispatcher';

/**
 * The agent list's kuery parser (reached through GET /api/fleet/agents?kuery=, which the management
 * target fuzzes end to end). It may only refuse with an InputError (a 400), and must answer fast:
 * its input is bounded, so a slow parse is a backtracking regex or a quadratic loop.
 */
const SLOW_MS = 250;

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  const started = performance.now();
  try {
    const filter = parseAgentKuery(text);
    for (const values of [filter.policyIds, filter.statuses, filter.tags]) {
      if (values !== undefined && (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))) {
        throw new Error(`parseAgentKuery(${JSON.stringify(text)}) returned a non-string value`);
      }
    }
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
  }
  const took = performance.now() - started;
  if (took > SLOW_MS) throw new Error(`parseAgentKuery took ${took.toFixed(0)} ms on ${text.length} chars`);
}
