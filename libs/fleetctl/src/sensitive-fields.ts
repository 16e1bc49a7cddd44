/** Keys whose values are credentials wherever they appear in a policy (outputs, inputs, agent, fleet). */
const SENSITIVE_KEY = /(^|_)(api_key|password|passwd|secret|token|service_token|private_key|key_passphrase)$|^(key|secret_key|access_key)$/i;
const MAX_DEPTH = 64;

/**
 * A copy of a server object with credential-looking values replaced by `(secret)`: what `policies
 * list|get` show unless --show-secrets. (plan and apply mask by the files' `${ENV}` references.)
 */
export function redactSensitive(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactSensitive(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SENSITIVE_KEY.test(k) && v !== null && v !== undefined && v !== '' ? '(secret)' : redactSensitive(v, depth + 1)]),
  );
}
