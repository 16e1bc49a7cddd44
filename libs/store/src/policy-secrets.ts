/**
 * Secret references in agent policies, as Kibana writes them and elastic/fleet-server resolves
 * them (internal/pkg/secret/secret.go, internal/pkg/policy/parsed_policy.go):
 * - inline: `$co.elastic.secret{<id>}` anywhere inside a string;
 * - path form: `secrets: {<field>: {id: <id>}}` (nested fields as nested objects, e.g.
 *   `secrets: {ssl: {key: {id}}}`), which becomes `<field>: <value>` beside `secrets`.
 * The ids are listed in `secret_references: [{id}]`. The sections covered are the reference's:
 * each output, each input (streams included), `agent.download`, `fleet`, and each OTel component
 * (`receivers`, `exporters`, `processors`, `extensions`, `connectors`). Every replaced location is
 * recorded in `secret_paths` with the reference's syntax (keys and array indices joined by dots:
 * `inputs.0.streams.1.password`, `outputs.default.ssl.key`), sorted and unique, and
 * `secret_references` is cleared. Pure functions: the values come from the caller (the store's
 * `secrets` port), and nothing here logs.
 */
import { removeAtPath, setAtPath } from '@fleet/management-api';
import type { FullAgentPolicy, JsonObject, JsonValue } from './documents';

const PLACEHOLDER = /\$co\.elastic\.secret\{([^}]*)\}/g;
const SECRETS_FIELD = 'secrets';
const OTEL_SECTIONS = ['receivers', 'exporters', 'processors', 'extensions', 'connectors'] as const;
/** Deeper than any real policy: anything below is left as it is (bounded recursion). */
const MAX_DEPTH = 64;

/** The inline reference to a stored secret, as policies carry it. */
export const secretPlaceholder = (id: string): string => `$co.elastic.secret{${id}}`;

/** A reference whose secret does not exist: where it is, and its id (never a value). */
export interface MissingSecret {
  id: string;
  path: string;
}

export interface ResolvedPolicy {
  /** The policy with every found secret in place, without `secret_references`. */
  policy: FullAgentPolicy;
  /** Sorted, unique; empty when nothing was replaced. */
  secretPaths: string[];
  /** References left in place (inline placeholder, or the `secrets` entry) because the secret does not exist. */
  missing: MissingSecret[];
}

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const join = (prefix: string, key: string | number): string => (prefix ? `${prefix}.${key}` : String(key));

/** A section of the policy that secrets are resolved in: its path prefix and a handle to replace it. */
interface Section {
  prefix: string;
  value: JsonValue;
  put(value: JsonValue): void;
}

function sectionsOf(policy: FullAgentPolicy): Section[] {
  const out: Section[] = [];
  const ofMap = (name: string, map: JsonValue | undefined) => {
    if (!isObject(map)) return;
    for (const [key, value] of Object.entries(map)) {
      if (isObject(value)) out.push({ prefix: `${name}.${key}`, value, put: (v) => (map[key] = v) });
    }
  };
  ofMap('outputs', policy.outputs);
  if (Array.isArray(policy.inputs)) {
    const inputs = policy.inputs as JsonValue[];
    inputs.forEach((input, i) => {
      if (isObject(input)) out.push({ prefix: `inputs.${i}`, value: input, put: (v) => (inputs[i] = v) });
    });
  }
  const agent = policy.agent;
  if (isObject(agent) && isObject(agent.download)) out.push({ prefix: 'agent.download', value: agent.download, put: (v) => (agent.download = v) });
  if (isObject(policy.fleet)) out.push({ prefix: 'fleet', value: policy.fleet, put: (v) => (policy.fleet = v as JsonObject) });
  for (const name of OTEL_SECTIONS) ofMap(name, policy[name]);
  return out;
}

/** `secrets` of the path form: each leaf `{id: "<id>"}` with its path below `secrets`. */
function pathReferences(secrets: JsonObject, depth: number, below: string[] = []): { path: string[]; id: string }[] {
  if (depth > MAX_DEPTH) return [];
  const out: { path: string[]; id: string }[] = [];
  for (const [key, value] of Object.entries(secrets)) {
    if (!isObject(value)) continue;
    if (typeof value.id === 'string') out.push({ path: [...below, key], id: value.id });
    else out.push(...pathReferences(value, depth + 1, [...below, key]));
  }
  return out;
}

/** Every secret id a policy names: its `secret_references`, inline placeholders and path-form entries. */
export function referencedSecretIds(policy: FullAgentPolicy): string[] {
  const ids = new Set<string>();
  for (const ref of policy.secret_references ?? []) if (ref && typeof ref.id === 'string' && ref.id) ids.add(ref.id);
  const walk = (value: JsonValue, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    if (typeof value === 'string') {
      for (const m of value.matchAll(PLACEHOLDER)) if (m[1]) ids.add(m[1]);
    } else if (Array.isArray(value)) {
      for (const v of value) walk(v, depth + 1);
    } else if (isObject(value)) {
      const secrets = value[SECRETS_FIELD];
      if (isObject(secrets)) for (const ref of pathReferences(secrets, depth)) if (ref.id) ids.add(ref.id);
      for (const v of Object.values(value)) walk(v, depth + 1);
    }
  };
  for (const section of sectionsOf(policy)) walk(section.value, 0);
  return [...ids].sort();
}

/**
 * The policy with its secrets in place. A reference whose secret is absent from `values` is left
 * as it is (the placeholder, or its `secrets` entry) and reported in `missing`, as the reference
 * skips a missing secret with a warning. Replacement is one pass: a value that itself looks like
 * a placeholder is delivered as it is, never expanded again.
 */
export function resolvePolicySecrets(source: FullAgentPolicy, values: ReadonlyMap<string, string>): ResolvedPolicy {
  const policy = structuredClone(source);
  delete policy.secret_references;
  const paths = new Set<string>();
  const missing: MissingSecret[] = [];

  const inline = (value: JsonValue, path: string, depth: number): JsonValue => {
    if (depth > MAX_DEPTH) return value;
    if (typeof value === 'string') {
      if (!value.includes('$co.elastic.secret{')) return value;
      let replaced = false;
      const out = value.replace(PLACEHOLDER, (whole, id: string) => {
        const found = values.get(id);
        if (found === undefined) {
          missing.push({ id, path });
          return whole;
        }
        replaced = true;
        return found;
      });
      if (replaced) paths.add(path);
      return out;
    }
    if (Array.isArray(value)) return value.map((v, i) => inline(v, join(path, i), depth + 1));
    if (isObject(value)) {
      for (const [k, v] of Object.entries(value)) value[k] = inline(v, join(path, k), depth + 1);
    }
    return value;
  };

  const pathForm = (value: JsonValue, path: string, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => pathForm(v, join(path, i), depth + 1));
      return;
    }
    if (!isObject(value)) return;
    const secrets = value[SECRETS_FIELD];
    if (isObject(secrets)) {
      for (const ref of pathReferences(secrets, depth)) {
        const found = values.get(ref.id);
        const where = join(path, ref.path.join('.'));
        if (found === undefined) {
          missing.push({ id: ref.id, path: where });
          continue;
        }
        setAtPath(value, ref.path, found);
        removeAtPath(secrets, ref.path);
        paths.add(where);
      }
      if (!Object.keys(secrets).length) delete value[SECRETS_FIELD];
    }
    // Placed values are strings, which this walk never reads: they are not searched again.
    for (const [k, v] of Object.entries(value)) if (k !== SECRETS_FIELD) pathForm(v, join(path, k), depth + 1);
  };

  for (const section of sectionsOf(policy)) {
    // Inline first, then the path form, in the reference's order.
    const value = inline(section.value, section.prefix, 0);
    pathForm(value, section.prefix, 0);
    section.put(value);
  }
  return { policy, secretPaths: [...paths].sort(), missing };
}

