import { ConfigError } from './config';

/** Bearer tokens an operator configures (bootstrap admin token, metrics token) are at least this long. */
export const MIN_TOKEN_LENGTH = 32;
/** ...and carry at least this many bits by the estimate below. */
export const MIN_TOKEN_BITS = 128;
const MIN_DISTINCT = 8;

/**
 * A conservative estimate of a token's strength: its length times log2 of the alphabet its
 * character classes span (lower, upper, digits, other), refused outright when it has fewer than
 * 8 distinct characters or is mostly runs and sequences (`aaaa…`, `abcd…`, `0123…`). It cannot
 * prove randomness; it keeps out what a person types (`a`, `changeme`, a repeated word). What
 * `openssl rand -hex 32` or `-base64 32` prints passes.
 */
export function estimateTokenBits(token: string): { bits: number; reason?: string } {
  const chars = [...token];
  if (chars.length < MIN_TOKEN_LENGTH) return { bits: 0, reason: `shorter than ${MIN_TOKEN_LENGTH} characters` };
  const distinct = new Set(chars).size;
  if (distinct < MIN_DISTINCT) return { bits: 0, reason: `only ${distinct} distinct characters` };
  let stepped = 0;
  for (let i = 1; i < chars.length; i++) {
    const d = (chars[i]?.codePointAt(0) ?? 0) - (chars[i - 1]?.codePointAt(0) ?? 0);
    if (Math.abs(d) <= 1) stepped++;
  }
  if (stepped * 2 >= chars.length - 1) return { bits: 0, reason: 'mostly repeated or consecutive characters' };
  let pool = 0;
  if (/[a-z]/.test(token)) pool += 26;
  if (/[A-Z]/.test(token)) pool += 26;
  if (/[0-9]/.test(token)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(token)) pool += 33;
  const bits = Math.floor(chars.length * Math.log2(Math.max(pool, 2)));
  return bits < MIN_TOKEN_BITS ? { bits, reason: `about ${bits} bits, fewer than ${MIN_TOKEN_BITS}` } : { bits };
}

/**
 * Refuses a weak configured token with a `ConfigError` naming the setting (the process stops with
 * it at start). The token itself never appears in the message.
 */
export function assertStrongToken(token: string, what: string, setting: string): void {
  const { reason } = estimateTokenBits(token);
  if (reason) {
    throw new ConfigError(
      `${what} is too weak (${reason}): ${setting} needs at least ${MIN_TOKEN_LENGTH} random characters and ${MIN_TOKEN_BITS} bits, e.g. the output of \`openssl rand -hex 32\``,
    );
  }
}
