import { isSecretReference, removeAtPath, secretLeaves, setAtPath, type JsonObject, type SecretLeaf } from '@fleet/management-api';
import type { ValuePath } from './secrets';

/**
 * A policy file's `secrets` fields (outputs, inputs, streams) against the server, which stores each
 * value and shows only its reference (docs/secrets.md): a stored value cannot be compared. The
 * rule (docs/fleetctl.md, "Secrets"): a secret the server already holds at that place is kept as
 * it is (its reference is sent back, nothing is stored again, and it is never a diff); a secret it
 * does not hold is sent and stored. `--rotate-secrets` sends every value again (each stored anew).
 */

type Content = { outputs?: Record<string, JsonObject> | undefined; inputs?: JsonObject[] | undefined };

const PLACEHOLDER = /^\$co\.elastic\.secret\{[^}]+\}$/;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
type ValueLeaf = Extract<SecretLeaf, { value: string }>;

function at(node: unknown, path: readonly string[]): unknown {
  let v = node;
  for (const key of path) v = isObject(v) ? v[key] : undefined;
  return v;
}

/** Each object that may carry `secrets`, with its path in the body and the server's object there. */
function owners(body: Content, server: Content | undefined): { path: ValuePath; owner: JsonObject; server: unknown; inline: boolean }[] {
  const out: { path: ValuePath; owner: JsonObject; server: unknown; inline: boolean }[] = [];
  for (const [name, output] of Object.entries(body.outputs ?? {})) out.push({ path: ['outputs', name], owner: output, server: server?.outputs?.[name], inline: false });
  (body.inputs ?? []).forEach((input, i) => {
    const serverInput = server?.inputs?.[i];
    out.push({ path: ['inputs', i], owner: input, server: serverInput, inline: true });
    const streams = input.streams;
    if (Array.isArray(streams)) {
      streams.forEach((stream, j) => {
        const serverStreams = isObject(serverInput) ? serverInput.streams : undefined;
        if (isObject(stream)) out.push({ path: ['inputs', i, 'streams', j], owner: stream, server: Array.isArray(serverStreams) ? serverStreams[j] : undefined, inline: true });
      });
    }
  });
  return out;
}

const valuesOf = (secrets: JsonObject): ValueLeaf[] => secretLeaves(secrets).filter((l): l is ValueLeaf => 'value' in l);

/** Every value in a `secrets` field of the body: their paths, which plan and apply never print. */
export function secretInputPaths(body: Content): ValuePath[] {
  const out: ValuePath[] = [];
  for (const o of owners(body, undefined)) {
    if (isObject(o.owner.secrets)) for (const leaf of valuesOf(o.owner.secrets)) out.push([...o.path, 'secrets', ...leaf.path]);
  }
  return out;
}

/**
 * The body as it compares with (and is sent to) the server: each `secrets` value the server holds
 * at that place replaced by the server's reference, in the server's shape (an output's
 * `secrets.<field>: {id}`; an input's or a stream's `<field>: $co.elastic.secret{<id>}`).
 */
export function keepStoredSecrets<T extends Content>(body: T, server: Content): T {
  const copy = structuredClone(body);
  for (const o of owners(copy, server)) {
    const secrets = o.owner.secrets;
    if (!isObject(secrets)) continue;
    for (const leaf of valuesOf(secrets)) {
      if (o.inline) {
        const ref = at(o.server, leaf.path);
        if (typeof ref !== 'string' || !PLACEHOLDER.test(ref)) continue;
        setAtPath(o.owner, leaf.path, ref);
        removeAtPath(secrets, leaf.path);
      } else {
        const ref = at(isObject(o.server) ? o.server.secrets : undefined, leaf.path);
        if (isSecretReference(ref)) setAtPath(secrets, leaf.path, { id: ref.id });
      }
    }
    if (!Object.keys(secrets).length) delete o.owner.secrets;
  }
  return copy;
}
