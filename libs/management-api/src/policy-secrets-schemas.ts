import { z } from 'zod';
import type { JsonObject, JsonValue } from './common-schemas';

/**
 * Kibana's `secrets` fields on the input side: an output (`outputs.<name>.secrets`), an input
 * (`inputs[i].secrets`) or a stream (`inputs[i].streams[j].secrets`) names its secret fields as
 * `secrets: {<field>: <value>}`, nested fields as nested objects (`{ssl: {key: <value>}}`). A leaf
 * is either a value to store (a string) or a secret that is stored already (`{id: <id>}`, as reads
 * show it), which is kept as it is. The bounds below hold per policy; an error names the path,
 * never the value.
 */

/** Secrets (values and references together) in one policy. */
export const MAX_POLICY_SECRETS = 100;
/** Bytes of one value given to store (a password, a token, a PEM key and its chain). */
export const MAX_SECRET_INPUT_BYTES = 64 * 1024;
/** Levels of fields below `secrets` (`{ssl: {key: …}}` is 2). */
export const MAX_SECRET_DEPTH = 4;
/** A stored secret's id (Elasticsearch's limit on a document id). */
const MAX_SECRET_ID_BYTES = 512;
const MAX_FIELD_CHARS = 256;

/** One leaf of a `secrets` object: its field path below `secrets`, and a value to store or an id to keep. */
export type SecretLeaf = { path: string[]; value: string } | { path: string[]; id: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A leaf that is already a reference: `{id: "<id>"}` and nothing else. */
export const isSecretReference = (v: unknown): v is { id: string } => isObject(v) && typeof v.id === 'string' && Object.keys(v).length === 1;

/** The leaves of a validated `secrets` object, in order. */
export function secretLeaves(secrets: JsonObject): SecretLeaf[] {
  const out: SecretLeaf[] = [];
  const walk = (node: JsonObject, below: string[], depth: number): void => {
    if (depth > MAX_SECRET_DEPTH) return;
    for (const [key, value] of Object.entries(node)) {
      const path = [...below, key];
      if (typeof value === 'string') out.push({ path, value });
      else if (isSecretReference(value)) out.push({ path, id: value.id });
      else if (isObject(value)) walk(value, path, depth + 1);
    }
  };
  walk(secrets, [], 1);
  return out;
}

/** The value at `path` below `node`, or undefined. */
function valueAt(node: unknown, path: readonly string[]): unknown {
  let at = node;
  for (const key of path) {
    if (!isObject(at)) return undefined;
    at = at[key];
  }
  return at;
}

type Issue = { path: (string | number)[]; message: string };

/**
 * Checks one `secrets` object (at `where` in the body) beside the fields of its `owner`; returns
 * how many leaves it has. Messages never include a value.
 */
function checkSecrets(owner: Record<string, unknown>, where: (string | number)[], issues: Issue[]): number {
  const secrets = owner.secrets;
  if (!isObject(secrets)) {
    issues.push({ path: where, message: 'must be an object of secret fields' });
    return 0;
  }
  let leaves = 0;
  const walk = (node: Record<string, unknown>, below: string[], depth: number): void => {
    for (const [key, value] of Object.entries(node)) {
      const path = [...below, key];
      const at = [...where, ...path];
      if (!key || key.length > MAX_FIELD_CHARS) {
        issues.push({ path: at, message: `a field name is 1-${MAX_FIELD_CHARS} characters` });
        continue;
      }
      if (typeof value === 'string' || isSecretReference(value)) {
        leaves++;
        if (typeof value === 'string') {
          if (!value) issues.push({ path: at, message: 'a secret value must not be empty' });
          else if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_INPUT_BYTES) issues.push({ path: at, message: `a secret value is at most ${MAX_SECRET_INPUT_BYTES} bytes` });
        } else if (!value.id || Buffer.byteLength(value.id, 'utf8') > MAX_SECRET_ID_BYTES) {
          issues.push({ path: at, message: `a secret id is 1-${MAX_SECRET_ID_BYTES} bytes` });
        }
        if (valueAt(owner, path) !== undefined) issues.push({ path: at, message: `the field ${path.join('.')} is also set outside secrets` });
      } else if (isObject(value) && !('id' in value)) {
        if (depth >= MAX_SECRET_DEPTH) issues.push({ path: at, message: `secrets are nested at most ${MAX_SECRET_DEPTH} levels deep` });
        else walk(value, path, depth + 1);
      } else {
        issues.push({ path: at, message: 'must be a secret value (a string), a stored secret ({id} alone) or an object of secret fields' });
      }
    }
  };
  walk(secrets, [], 1);
  return leaves;
}

/** The `secrets` of a policy body's outputs, inputs and streams; issues for the zod refinement. */
export function policySecretIssues(body: { outputs?: Record<string, JsonObject> | undefined; inputs?: JsonObject[] | undefined }): Issue[] {
  const issues: Issue[] = [];
  let total = 0;
  const visit = (owner: unknown, where: (string | number)[]): void => {
    if (isObject(owner) && owner.secrets !== undefined) total += checkSecrets(owner, [...where, 'secrets'], issues);
  };
  for (const [name, output] of Object.entries(body.outputs ?? {})) visit(output, ['outputs', name]);
  (body.inputs ?? []).forEach((input, i) => {
    visit(input, ['inputs', i]);
    const streams: JsonValue | undefined = input.streams;
    if (Array.isArray(streams)) streams.forEach((stream, j) => visit(stream, ['inputs', i, 'streams', j]));
  });
  if (total > MAX_POLICY_SECRETS) issues.push({ path: ['secrets'], message: `a policy has at most ${MAX_POLICY_SECRETS} secrets (got ${total})` });
  return issues;
}

/** Refines a policy body: its `secrets` fields are within the bounds. */
export function refinePolicySecrets(body: { outputs?: Record<string, JsonObject> | undefined; inputs?: JsonObject[] | undefined }, ctx: z.RefinementCtx): void {
  for (const issue of policySecretIssues(body)) ctx.addIssue({ code: 'custom', ...issue });
}

/** The shape a `secrets` field has in the OpenAPI document. */
export const secretsField = z
  .record(z.string(), z.unknown())
  .describe(
    `Secret fields: {<field>: <value>} (nested fields as nested objects). Each value (a string, at most ${MAX_SECRET_INPUT_BYTES} bytes) is stored as a secret and the policy keeps only its reference; {id} (a stored secret, as reads show it) is kept. At most ${MAX_POLICY_SECRETS} per policy, ${MAX_SECRET_DEPTH} levels deep.`,
  );
