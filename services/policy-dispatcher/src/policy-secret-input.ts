import { removeAtPath, secretLeaves, setAtPath, type SecretLeaf } from '@fleet/management-api';
import { referencedSecretIds, secretPlaceholder, type AgentPolicyRecord, type JsonObject, type JsonValue, type SecretStore } from '@fleet/store';

/**
 * The management API's `secrets` input (docs/secrets.md, "The management API's secrets input"):
 * each value given in an output's, an input's or a stream's `secrets` is stored with
 * `store.secrets.create`, and the policy keeps only its reference, in the shape Kibana writes:
 * - an output keeps the path form, `secrets: {<field>: {id}}` (Kibana's full agent policy carries
 *   `outputs.<name>.secrets`);
 * - an input or a stream gets the inline placeholder at the field, `<field>:
 *   "$co.elastic.secret{<id>}"` (as Kibana compiles secret variables into inputs), and the entry
 *   leaves its `secrets`.
 * A leaf that is a reference already (`{id}`) is kept where it is, so a read→PUT round trip stores
 * nothing again. The body was validated (policy-secrets-schemas.ts): bounded and without conflicts.
 */

type PolicyContent = { outputs?: Record<string, JsonObject> | undefined; inputs?: JsonObject[] | undefined };

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

type ValueLeaf = Extract<SecretLeaf, { value: string }>;
const valuesOf = (secrets: JsonObject): ValueLeaf[] => secretLeaves(secrets).filter((l): l is ValueLeaf => 'value' in l);

/** An output: each value becomes `{id}` in place. */
async function storeOutputSecrets(secrets: SecretStore, output: JsonObject): Promise<void> {
  const entries = output.secrets;
  if (!isObject(entries)) return;
  for (const leaf of valuesOf(entries)) {
    const id = await secrets.create(leaf.value);
    let node = entries;
    for (const key of leaf.path.slice(0, -1)) node = node[key] as JsonObject;
    node[leaf.path[leaf.path.length - 1] as string] = { id };
  }
}

/** An input or a stream: each value becomes the placeholder at its field, and leaves `secrets`. */
async function storeInlineSecrets(secrets: SecretStore, owner: JsonObject): Promise<void> {
  const entries = owner.secrets;
  if (!isObject(entries)) return;
  for (const leaf of valuesOf(entries)) {
    const id = await secrets.create(leaf.value);
    setAtPath(owner, leaf.path, secretPlaceholder(id));
    removeAtPath(entries, leaf.path);
  }
  if (!Object.keys(entries).length) delete owner.secrets;
}

/**
 * The content with every given secret value stored and replaced by its reference. The caller's
 * objects are not changed. Values are stored one at a time (at most MAX_POLICY_SECRETS).
 */
export async function storePolicySecrets<T extends PolicyContent>(secrets: SecretStore, content: T): Promise<T> {
  const out = { ...content };
  if (content.outputs) {
    const outputs = structuredClone(content.outputs);
    for (const output of Object.values(outputs)) await storeOutputSecrets(secrets, output);
    out.outputs = outputs;
  }
  if (content.inputs) {
    const inputs = structuredClone(content.inputs);
    for (const input of inputs) {
      await storeInlineSecrets(secrets, input);
      if (Array.isArray(input.streams)) for (const stream of input.streams) if (isObject(stream)) await storeInlineSecrets(secrets, stream);
    }
    out.inputs = inputs;
  }
  return out;
}

/** Kibana's `secret_references` of a record: every stored secret its content names (none: absent). */
export function secretReferencesOf(record: AgentPolicyRecord): Pick<AgentPolicyRecord, 'secret_references'> {
  const ids = referencedSecretIds({
    id: record.id,
    revision: record.revision,
    outputs: record.outputs ?? {},
    inputs: record.inputs ?? [],
    ...(record.agent ? { agent: record.agent } : {}),
    ...(record.fleet ? { fleet: record.fleet } : {}),
  });
  return ids.length ? { secret_references: ids.map((id) => ({ id })) } : {};
}
