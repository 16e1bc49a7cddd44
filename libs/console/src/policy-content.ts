import type { AgentPolicy, JsonObject } from './fleet-types';

/**
 * The agent-facing content of a policy that the content editor edits: the fields of
 * `PUT /agent_policies/:id` that go to agents as they are. `null` in the editor means "not set":
 * the server then renders its default (the default Elasticsearch output, its permissions, the agent
 * settings from the monitoring choice, no inputs).
 */
export const CONTENT_KEYS = ['outputs', 'output_permissions', 'agent', 'inputs'] as const;
export type ContentKey = (typeof CONTENT_KEYS)[number];
export type PolicyContent = Partial<Pick<AgentPolicy, ContentKey>>;

/** Bounds of the server's schema. */
const MAX_INPUTS = 10_000;

export interface ContentProblem {
  /** The top-level field the problem is in; undefined: the document as a whole. */
  key?: string;
  message: string;
}

/** The editor's document for a policy: every content field, `null` where the policy has none. */
export function contentDocument(policy: PolicyContent): Record<ContentKey, unknown> {
  return {
    outputs: policy.outputs ?? null,
    output_permissions: policy.output_permissions ?? null,
    agent: policy.agent ?? null,
    inputs: policy.inputs ?? null,
  };
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * What is wrong with an edited document, checked like the server's schema does (so the editor
 * marks the field before a save is tried). `current` is the policy as stored: a field it has set
 * cannot go back to null, since the API has no way to unset it.
 */
export function contentProblems(doc: unknown, current: PolicyContent): ContentProblem[] {
  if (!isObject(doc)) return [{ message: 'The content must be a JSON object with the fields outputs, output_permissions, agent and inputs.' }];
  const problems: ContentProblem[] = [];
  for (const key of Object.keys(doc)) {
    if (!(CONTENT_KEYS as readonly string[]).includes(key)) {
      problems.push({ key, message: `"${key}" is not a content field (use ${CONTENT_KEYS.join(', ')}; settings are on the Settings tab).` });
    }
  }
  for (const key of CONTENT_KEYS) {
    const value = doc[key];
    if (value === undefined || value === null) {
      if (current[key] !== undefined) {
        problems.push({ key, message: `"${key}" is set on this policy and cannot be unset through the API: give it a value.` });
      }
      continue;
    }
    const problem = fieldProblem(key, value);
    if (problem) problems.push({ key, message: problem });
  }
  return problems;
}

function fieldProblem(key: ContentKey, value: unknown): string | undefined {
  switch (key) {
    case 'outputs': {
      if (!isObject(value)) return '"outputs" must be an object of outputs by name.';
      for (const [name, output] of Object.entries(value)) {
        if (!name) return 'An output needs a non-empty name.';
        if (!isObject(output) || typeof output.type !== 'string') return `Output "${name}" must be an object with a string "type".`;
      }
      return undefined;
    }
    case 'output_permissions': {
      if (!isObject(value)) return '"output_permissions" must be an object by output name.';
      const bad = Object.entries(value).find(([, v]) => !isObject(v));
      return bad ? `The permissions of "${bad[0]}" must be an object.` : undefined;
    }
    case 'agent':
      return isObject(value) ? undefined : '"agent" must be an object.';
    case 'inputs': {
      if (!Array.isArray(value)) return '"inputs" must be an array of inputs.';
      if (value.length > MAX_INPUTS) return `At most ${MAX_INPUTS} inputs.`;
      const bad = value.findIndex((v) => !isObject(v));
      return bad >= 0 ? `Input ${bad} must be an object.` : undefined;
    }
  }
}

/** The body of the PUT for an edited document (already checked): the fields that have a value. */
export function contentUpdate(doc: Record<string, unknown>): PolicyContent {
  const out: Record<string, unknown> = {};
  for (const key of CONTENT_KEYS) if (doc[key] !== undefined && doc[key] !== null) out[key] = doc[key];
  return out;
}

/** Parses the editor's text; undefined when it is not JSON (the linter marks where). */
export function parseContent(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
