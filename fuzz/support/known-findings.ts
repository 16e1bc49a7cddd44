import type { FuzzRequest, FuzzResponse } from './fleet-app';

/**
 * Findings already reported and being fixed elsewhere. With FUZZ_SKIP_KNOWN=1 (a long run before
 * the fix lands) a finding that matches one is counted and let pass, so the run can explore past
 * it; by default (and in CI) every finding fails. Empty this list as the fixes land.
 */
export interface KnownFinding {
  name: string;
  matches(req: FuzzRequest, res: FuzzResponse | undefined, errors: string[]): boolean;
}

/**
 * Empty since the fixes of issue 12 landed: the `%ff` path (URIError, 500) and JSON nested 10,000
 * deep (500, or a poisoned status batch). Their inputs stay in the committed seeds.
 */
export const KNOWN_FINDINGS: KnownFinding[] = [];

export const SKIP_KNOWN = process.env.FUZZ_SKIP_KNOWN === '1';
const seen = new Map<string, number>();

/** True when the finding is a known one and FUZZ_SKIP_KNOWN=1 lets it pass (reported once per kind). */
export function skipKnown(req: FuzzRequest, res: FuzzResponse | undefined, errors: string[]): boolean {
  if (!SKIP_KNOWN) return false;
  const known = KNOWN_FINDINGS.find((k) => k.matches(req, res, errors));
  if (!known) return false;
  const count = (seen.get(known.name) ?? 0) + 1;
  seen.set(known.name, count);
  if (count === 1) process.stderr.write(`FUZZ_SKIP_KNOWN: passing over a known finding: ${known.name}\n`);
  return true;
}
