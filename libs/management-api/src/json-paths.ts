import type { JsonObject, JsonValue } from './common-schemas';

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Sets `value` at `path` below `target`, creating (or replacing non-objects with) objects on the
 * way: where a secret's value or reference goes in a policy.
 */
export function setAtPath(target: JsonObject, path: readonly string[], value: JsonValue): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    node = isObject(next) ? next : (node[key] = {});
  }
  const leaf = path[path.length - 1];
  if (leaf !== undefined) node[leaf] = value;
}

/** Removes the entry at `path` below `secrets`, and the objects it leaves empty. */
export function removeAtPath(secrets: JsonObject, path: readonly string[]): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const child = secrets[head];
  if (rest.length && isObject(child)) {
    removeAtPath(child, rest);
    if (Object.keys(child).length) return;
  }
  delete secrets[head];
}
