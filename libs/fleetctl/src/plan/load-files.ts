import { agentPolicyCreateBody, enrollmentKeyCreateBody } from '@fleet/management-api';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isMap, isScalar, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { z } from 'zod';
import { CliError } from '../errors';
import { resolveSecrets, type ValuePath } from './secrets';
import { secretInputPaths } from './stored-secrets';

/** Bounds of a directory of files. */
const MAX_FILES = 10_000;
const MAX_DEPTH = 16;
const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** Errors reported at most (the rest are counted). */
const MAX_ERRORS = 50;

export const KINDS = ['agent_policy', 'enrollment_token'] as const;

/**
 * An enrollment token's file: the fields of `POST /enrollment_api_keys`, with `name` required (it
 * identifies the token) and its policy named by `policy_id`, or by `policy_name` (fleetctl only) for
 * a policy whose file gives no id.
 */
export const enrollmentTokenFile = enrollmentKeyCreateBody.extend({
  name: z.string().trim().min(1).max(200),
  policy_id: z.string().min(1).optional(),
  policy_name: z.string().min(1).optional(),
});

export type PolicyBody = z.output<typeof agentPolicyCreateBody>;

interface Source {
  /** The file, relative to the directory. */
  file: string;
  /** Paths holding a secret, and the values they resolved to. */
  secretPaths: ValuePath[];
  secretValues: string[];
  /** `line:column` of the field that identifies the object (id, else name). */
  at: string;
}

export interface DesiredPolicy extends Source {
  kind: 'agent_policy';
  body: PolicyBody;
}

export interface DesiredToken extends Source {
  kind: 'enrollment_token';
  name: string;
  policy: { id: string } | { name: string };
  expiration?: string;
}

export interface Desired {
  policies: DesiredPolicy[];
  tokens: DesiredToken[];
}

/** The *.yaml and *.yml files under `dir`, recursive, sorted by path. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > MAX_DEPTH) throw new CliError(`${d}: directories nested deeper than ${MAX_DEPTH}`);
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.')) continue;
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path, depth + 1);
      else if (entry.isFile() && /\.ya?ml$/i.test(entry.name)) out.push(path);
      if (out.length > MAX_FILES) throw new CliError(`${dir}: more than ${MAX_FILES} files`);
    }
  };
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new CliError(`-f ${dir}: not a directory`);
  walk(dir, 0);
  return out.sort();
}

/** Where a path of a document is: the node at the path, or the nearest one above it; a key when `key` is given. */
function locate(doc: Document, lines: LineCounter, path: ValuePath, key?: string): { line: number; col: number } {
  let at = [...path];
  for (;;) {
    const node = at.length ? doc.getIn(at, true) : doc.contents;
    if (node && typeof node === 'object' && 'range' in node) {
      let offset = (node as { range?: [number, number, number] }).range?.[0] ?? 0;
      if (key !== undefined && isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
        if (pair && isScalar(pair.key) && pair.key.range) offset = pair.key.range[0];
      } else if (at.length < path.length && isMap(node)) {
        // A missing field: point at the object's first key.
        offset = (node.range?.[0] ?? offset);
      }
      return lines.linePos(offset);
    }
    if (at.length === 0) return { line: 1, col: 1 };
    at = at.slice(0, -1);
  }
}

const fieldOf = (path: ValuePath): string => (path.length ? path.map(String).join('.') : '(file)');

/**
 * Reads, resolves and validates every object of the directory. Throws one CliError listing each
 * problem as `file:line:column: field: message` (bad YAML, unknown kind or field, an unset
 * `${ENV}`, a duplicate object); never a secret's value.
 */
export function loadDirectory(dir: string, env: Record<string, string | undefined>): Desired {
  const errors: string[] = [];
  const desired: Desired = { policies: [], tokens: [] };
  for (const path of listFiles(dir)) {
    const file = relative(dir, path) || path;
    const report = (pos: { line: number; col: number }, field: string, message: string) => errors.push(`${file}:${pos.line}:${pos.col}: ${field}: ${message}`);
    if (statSync(path).size > MAX_FILE_BYTES) {
      report({ line: 1, col: 1 }, '(file)', `larger than ${MAX_FILE_BYTES} bytes`);
      continue;
    }
    const lines = new LineCounter();
    const docs = parseAllDocuments(readFileSync(path, 'utf8'), { lineCounter: lines, keepSourceTokens: true, uniqueKeys: true, prettyErrors: true });
    if (!Array.isArray(docs) || docs.length !== 1) {
      report({ line: 1, col: 1 }, '(file)', `must hold exactly one object (found ${Array.isArray(docs) ? docs.length : 0} documents)`);
      continue;
    }
    const doc = docs[0]!;
    if (doc.errors.length) {
      for (const e of doc.errors) {
        const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
        report(pos, '(yaml)', e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
      }
      continue;
    }
    let raw: unknown;
    try {
      raw = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      report({ line: 1, col: 1 }, '(yaml)', err instanceof Error ? err.message : String(err));
      continue;
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      report(locate(doc, lines, []), '(file)', 'must be a YAML mapping with a kind');
      continue;
    }
    const { kind, ...fields } = raw as Record<string, unknown>;
    if (!(KINDS as readonly unknown[]).includes(kind)) {
      report(locate(doc, lines, ['kind']), 'kind', `must be one of ${KINDS.join(', ')}`);
      continue;
    }
    const resolved = resolveSecrets(fields, env);
    for (const u of resolved.unset) report(locate(doc, lines, u.path), fieldOf(u.path), `environment variable ${u.variable} is not set`);
    if (resolved.unset.length) continue;
    const idKey = kind === 'agent_policy' && 'id' in fields ? 'id' : 'name';
    const pos = locate(doc, lines, [], idKey);
    const source = { file, secretPaths: resolved.secretPaths, secretValues: resolved.secretValues, at: `${pos.line}:${pos.col}` };
    const schema = kind === 'agent_policy' ? agentPolicyCreateBody : enrollmentTokenFile;
    const parsed = schema.safeParse(resolved.value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const path = issue.path as ValuePath;
        if (issue.code === 'unrecognized_keys') {
          for (const key of issue.keys) report(locate(doc, lines, path, key), fieldOf([...path, key]), 'unknown field');
        } else {
          report(locate(doc, lines, path), fieldOf(path), issue.message);
        }
      }
      continue;
    }
    if (kind === 'agent_policy') {
      const policy = parsed.data as PolicyBody;
      // Every value of a `secrets` field is a secret too, `${NAME}` or not: never printed.
      const secretPaths = [...source.secretPaths];
      for (const p of secretInputPaths(policy)) if (!secretPaths.some((q) => q.join('\0') === p.join('\0'))) secretPaths.push(p);
      desired.policies.push({ kind: 'agent_policy', ...source, secretPaths, body: policy });
      continue;
    }
    const token = parsed.data as z.output<typeof enrollmentTokenFile>;
    if ((token.policy_id === undefined) === (token.policy_name === undefined)) {
      report(locate(doc, lines, []), 'policy_id', 'name the policy by policy_id or by policy_name (one of them)');
      continue;
    }
    desired.tokens.push({
      kind: 'enrollment_token',
      ...source,
      name: token.name,
      policy: token.policy_id !== undefined ? { id: token.policy_id } : { name: token.policy_name! },
      ...(token.expiration !== undefined ? { expiration: token.expiration } : {}),
    });
  }
  errors.push(...duplicates(desired));
  if (errors.length) {
    const shown = errors.slice(0, MAX_ERRORS);
    if (errors.length > MAX_ERRORS) shown.push(`… and ${errors.length - MAX_ERRORS} more`);
    throw new CliError(`invalid files in ${dir}:\n${shown.map((e) => `  ${e}`).join('\n')}`);
  }
  return desired;
}

/** Two files for one object: policies by id and by name (names are unique), tokens by policy and name. */
function duplicates(desired: Desired): string[] {
  const out: string[] = [];
  const seen = new Map<string, string>();
  const claim = (key: string, o: { file: string; at: string }, field: string, what: string) => {
    const first = seen.get(key);
    if (first !== undefined) out.push(`${o.file}:${o.at}: ${field}: duplicate ${what} (also in ${first})`);
    else seen.set(key, `${o.file}:${o.at}`);
  };
  for (const p of desired.policies) {
    if (p.body.id !== undefined) claim(`policy-id:${p.body.id}`, p, 'id', `agent_policy "${p.body.id}"`);
    claim(`policy-name:${p.body.name}`, p, 'name', `agent_policy name "${p.body.name}"`);
  }
  for (const t of desired.tokens) {
    const owner = 'id' in t.policy ? desired.policies.find((p) => p.body.id === (t.policy as { id: string }).id) : desired.policies.find((p) => p.body.name === (t.policy as { name: string }).name);
    const policyKey = owner ? (owner.body.id ?? `name:${owner.body.name}`) : 'id' in t.policy ? t.policy.id : `name:${t.policy.name}`;
    claim(`token:${policyKey}/${t.name}`, t, 'name', `enrollment_token "${t.name}" of policy "${'id' in t.policy ? t.policy.id : t.policy.name}"`);
  }
  return out;
}
