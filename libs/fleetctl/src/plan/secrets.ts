/** A path into a parsed file: map keys and sequence indexes. */
export type ValuePath = (string | number)[];

/** `${NAME}` (a secret from the environment), or `$${` (a literal `${`). */
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}/g;
/** Strings walked in one file (bounded). */
const MAX_NODES = 1_000_000;

export interface UnsetReference {
  path: ValuePath;
  variable: string;
}

export interface Resolved {
  value: unknown;
  /** Paths whose string held a `${...}` reference: their values are secrets. */
  secretPaths: ValuePath[];
  /** The values those references resolved to (never to be printed). */
  secretValues: string[];
  unset: UnsetReference[];
}

/**
 * Replaces `${NAME}` in every string value (never in keys) with the environment's NAME. A string
 * holding a reference is a secret as a whole: its path is recorded so that plan and apply print
 * `(secret)` instead of it. An unset NAME is reported with its path, never with a value.
 */
export function resolveSecrets(value: unknown, env: Record<string, string | undefined>): Resolved {
  const out: Resolved = { value: undefined, secretPaths: [], secretValues: [], unset: [] };
  let nodes = 0;
  const walk = (v: unknown, path: ValuePath): unknown => {
    if (++nodes > MAX_NODES) throw new Error(`more than ${MAX_NODES} values`);
    if (typeof v === 'string') {
      let secret = false;
      const resolved = v.replace(REFERENCE, (_match, name: string | undefined) => {
        if (name === undefined) return '${';
        secret = true;
        const found = env[name];
        if (found === undefined) {
          out.unset.push({ path, variable: name });
          return '';
        }
        return found;
      });
      if (secret) {
        out.secretPaths.push(path);
        out.secretValues.push(resolved);
      }
      return resolved;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, [...path, k])]));
    return v;
  };
  out.value = walk(value, []);
  return out;
}

/** The value at `path`, or undefined. */
export function valueAt(value: unknown, path: ValuePath): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[key];
  }
  return v;
}

/** A copy of `value` with the value at each path (where one exists) replaced by `marker(path)`. */
export function maskPaths(value: unknown, paths: readonly ValuePath[], marker: (path: ValuePath) => string): unknown {
  if (paths.some((p) => p.length === 0)) return value === undefined ? undefined : marker([]);
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string | number, unknown> | unknown[] = Array.isArray(value) ? [...(value as unknown[])] : { ...(value as Record<string, unknown>) };
  const heads = new Map<string | number, ValuePath[]>();
  for (const [head, ...rest] of paths) heads.set(head!, [...(heads.get(head!) ?? []), rest]);
  for (const [head, rest] of heads) {
    const child = (copy as Record<string | number, unknown>)[head];
    if (child === undefined) continue;
    (copy as Record<string | number, unknown>)[head] = maskPaths(child, rest, (p) => marker([head, ...p]));
  }
  return copy;
}

/** Values equal as JSON, whatever the order of object keys. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((item, i) => sameValue(item, bb[i]));
  }
  const ak = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const bk = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
