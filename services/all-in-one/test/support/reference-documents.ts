/**
 * Loads the reference implementation's JSON schema of the `.fleet-*` documents (elastic/fleet-server
 * `model/schema.json`) at test time and validates raw Elasticsearch documents against its
 * `definitions` with ajv.
 *
 * The file stays outside this repository (`../shared/reference/elastic-fleet-server/schema.json`, a
 * sibling of the repo root in CI); nothing of it is copied here. `FLEET_REFERENCE_SCHEMA` overrides
 * the path. A suite must skip, saying so on stderr, when the file is absent.
 *
 * The schema is the input of the reference's Go code generator (`internal/pkg/model/schema.go`), so
 * it is read the way that generator reads it. Every deviation from a literal JSON Schema reading is
 * listed here, and the test pins the affected names so that none goes unnoticed:
 * - `_id`, `_version` and `_seq_no` are document metadata (the generator maps them to the embedded
 *   `ESDocument` with `json:"-"`), never `_source` fields. A document is validated as its `_source`
 *   plus the metadata of its search hit, so `agent`'s required `_id` is checked against the real
 *   document id.
 * - A `required` name with no entry in `properties` generates no field at all: the reference can
 *   never write it, and Kibana does not either (`agent`: `status`; `action`: `id`; `action-result`:
 *   `id`, `agent`, `action`; `policy_output`: `api_key_history`; `artifact`: camelCase spellings of
 *   its properties). Such names are dropped from `required` and reported by `droppedRequired`.
 *   Required names that are properties (`agent._id`, `policy.default_fleet_server`, …) stay required.
 * - `format: uuid` is an annotation: the generator types these fields as plain strings and neither
 *   the reference nor Kibana constrains them (Kibana's preconfigured policies have ids such as
 *   `fleet-server-policy`; the enroll request's `id` is any string). `format: raw` (Go
 *   `json.RawMessage`) admits any JSON value. `format: date-time` is checked as RFC 3339.
 * - Everything else is literal: types, nested `$ref`s, and `null` is not a value of a typed field.
 * ajv runs with `strict: false` so annotation keywords of the document (`deprecated`) are ignored.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { adminGet } from './elasticsearch-admin';

type SchemaObject = Record<string, unknown>;

/** Repo root is four levels up from `services/all-in-one/test/support`; `shared/` is its sibling. */
const DEFAULT_PATH = resolve(__dirname, '..', '..', '..', '..', '..', 'shared', 'reference', 'elastic-fleet-server', 'schema.json');

export function referenceSchemaPath(): string {
  const override = process.env['FLEET_REFERENCE_SCHEMA'];
  return override ? resolve(override) : DEFAULT_PATH;
}

const SCHEMA_ID = 'https://reference.invalid/elastic-fleet-server/schema.json';

const isObject = (v: unknown): v is SchemaObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keywords whose value is a map of name → schema (the names are never keywords). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions']);
/** Keywords whose value is data, not a schema. */
const DATA_KEYWORDS = new Set(['enum', 'required', 'const', 'default', 'examples']);

/**
 * Drops, at every level, the `required` names that have no `properties` entry, recording them under
 * `where` (a JSON pointer into the schema).
 */
function dropUndeclaredRequired(node: unknown, where: string, dropped: Record<string, string[]>): unknown {
  if (Array.isArray(node)) return node.map((n, i) => dropUndeclaredRequired(n, `${where}/${i}`, dropped));
  if (!isObject(node)) return node;
  const out: SchemaObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (SCHEMA_MAPS.has(key) && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, dropUndeclaredRequired(v, `${where}/${key}/${k}`, dropped)]));
    } else if (DATA_KEYWORDS.has(key)) {
      out[key] = value;
    } else {
      out[key] = dropUndeclaredRequired(value, `${where}/${key}`, dropped);
    }
  }
  const required = node['required'];
  if (Array.isArray(required)) {
    const declared = isObject(node['properties']) ? node['properties'] : {};
    const names = required.filter((n): n is string => typeof n === 'string');
    const kept = names.filter((n) => Object.hasOwn(declared, n));
    const gone = names.filter((n) => !Object.hasOwn(declared, n));
    if (gone.length) {
      dropped[where || '/'] = gone;
      out['required'] = kept;
    }
  }
  return out;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function addFormats(ajv: Ajv): void {
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)) });
  // Annotations (see the header): any string for `uuid`, any JSON value for `raw`.
  ajv.addFormat('uuid', true);
  ajv.addFormat('raw', true);
}

export interface ReferenceDocumentSchema {
  path: string;
  ajv: Ajv;
  /** Names of `definitions`. */
  definitionNames: string[];
  /**
   * `required` names dropped because they have no `properties` entry, keyed by JSON pointer into the
   * schema (e.g. `/definitions/agent`).
   */
  droppedRequired: Record<string, string[]>;
}

let loaded: ReferenceDocumentSchema | undefined;

/** Loads (once) the reference schema; throws with a clear message if it is missing or malformed. */
export function loadReferenceDocumentSchema(): ReferenceDocumentSchema {
  if (loaded) return loaded;
  const path = referenceSchemaPath();
  if (!existsSync(path)) {
    throw new Error(
      `Reference document schema not found at ${path}. It is not part of this repository: it is expected at ` +
        `<repo>/../shared/reference/elastic-fleet-server/schema.json (set FLEET_REFERENCE_SCHEMA to another path).`,
    );
  }
  const document: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!isObject(document) || !isObject(document['definitions'])) throw new Error(`Reference document schema ${path} has no definitions`);
  const droppedRequired: Record<string, string[]> = {};
  const rewritten = dropUndeclaredRequired(document, '', droppedRequired) as SchemaObject;
  // ajv's default class is draft-07, the document's `$schema`; the meta-schema URI is dropped so the
  // document is not re-validated against it (annotation keywords such as `deprecated` are not draft-07).
  const { $schema: _metaSchema, ...body } = rewritten;
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
  addFormats(ajv);
  ajv.addSchema({ ...body, $id: SCHEMA_ID });
  loaded = { path, ajv, definitionNames: Object.keys(document['definitions']), droppedRequired };
  return loaded;
}

const compiled = new Map<string, ValidateFunction>();

function validatorOf(name: string): ValidateFunction {
  const ref = loadReferenceDocumentSchema();
  let fn = compiled.get(name);
  if (!fn) {
    if (!ref.definitionNames.includes(name)) throw new Error(`Reference schema ${ref.path} has no definitions.${name}`);
    fn = ref.ajv.compile({ $ref: `${SCHEMA_ID}#/definitions/${encodeURIComponent(name)}` });
    compiled.set(name, fn);
  }
  return fn;
}

/** The value at a JSON pointer (ajv's `instancePath`), for error messages. */
function valueAt(root: unknown, pointer: string): unknown {
  let at: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(at)) at = at[Number(key)];
    else if (isObject(at)) at = at[key];
    else return undefined;
  }
  return at;
}

const show = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v).slice(0, 200));

function describeError(e: ErrorObject, value: unknown): string {
  const where = e.instancePath || '(document)';
  if (e.keyword === 'required') return `${where}: ${e.message ?? 'required'}`;
  return `${where}: ${e.message ?? e.keyword} (schema ${e.schemaPath}; value ${show(valueAt(value, e.instancePath))})`;
}

export interface DocumentValidation {
  valid: boolean;
  /** One line per ajv error: where, what, the schema rule and the offending value. Empty when valid. */
  errors: string[];
}

export interface ValidateOptions {
  /**
   * Top-level required properties allowed to be missing: only for deviations documented in
   * docs/compatibility.md (the enrollment key's plaintext `api_key`).
   */
  exemptRequired?: string[];
}

/** Validates a value against `definitions[name]`. */
export function validateDocument(name: string, value: unknown, opts: ValidateOptions = {}): DocumentValidation {
  const fn = validatorOf(name);
  if (fn(value)) return { valid: true, errors: [] };
  const exempt = new Set(opts.exemptRequired ?? []);
  const errors = (fn.errors ?? []).filter(
    (e) => !(e.keyword === 'required' && e.instancePath === '' && exempt.has(String((e.params as { missingProperty?: unknown }).missingProperty))),
  );
  return { valid: errors.length === 0, errors: errors.map((e) => describeError(e, value)) };
}

/** Asserts (chai AssertionError) that `value` matches `definitions[name]`, listing ajv's errors. */
export function expectDocumentMatches(name: string, value: unknown, label: string, opts: ValidateOptions = {}): void {
  const result = validateDocument(name, value, opts);
  if (!result.valid) {
    expect.fail(
      `${label} does not match reference schema definitions.${name}:\n  ${result.errors.join('\n  ')}\ndocument: ${JSON.stringify(value, null, 2)}`,
    );
  }
}

/** One search hit of a superuser search, as Elasticsearch returns it. */
export interface RawHit<T = Record<string, unknown>> {
  _index: string;
  _id: string;
  _version?: number;
  _seq_no?: number;
  _primary_term?: number;
  _source: T;
}

/** The document the schema describes: `_source` plus the hit's metadata (see the header). */
export function asModel(hit: RawHit): Record<string, unknown> {
  return {
    ...hit._source,
    _id: hit._id,
    ...(hit._version !== undefined ? { _version: hit._version } : {}),
    ...(hit._seq_no !== undefined ? { _seq_no: hit._seq_no } : {}),
  };
}

/** Makes every `.fleet-*` write visible to search (the refresh API accepts GET as well as POST). */
export async function refreshFleetIndices(): Promise<void> {
  await adminGet('/.fleet-*/_refresh?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true');
}

/**
 * Every document of an index, read raw with the superuser (not through the store), with `_version`
 * and `_seq_no`. Call `refreshFleetIndices` first.
 */
export async function rawDocuments<T = Record<string, unknown>>(index: string): Promise<RawHit<T>[]> {
  const res = await adminGet<{ hits: { total: { value: number }; hits: RawHit<T>[] } }>(
    `/${index}/_search?size=1000&version=true&seq_no_primary_term=true&track_total_hits=true&sort=_doc`,
  );
  if (res.hits.total.value > res.hits.hits.length) throw new Error(`${index}: ${res.hits.total.value} documents, more than one page`);
  return res.hits.hits;
}
