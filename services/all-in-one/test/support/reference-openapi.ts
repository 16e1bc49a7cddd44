/**
 * Loads the reference implementation's OpenAPI document (elastic/fleet-server `openapi.yml`) at
 * test time and validates bodies against its component schemas with ajv.
 *
 * The document stays outside this repository (`../shared/reference/elastic-fleet-server/`, a
 * sibling of the repo root in CI); nothing of it is copied here. `FLEET_REFERENCE_OPENAPI`
 * overrides the path.
 *
 * OpenAPI 3.0 schema objects are not quite JSON Schema, so each component schema is rewritten
 * before ajv sees it:
 * - `$ref: "#/components/schemas/X"` points at the schema registered under `schemaId('X')`;
 * - `nullable: true` also admits `null`;
 * - a `type: string, format: application/json, x-go-type: json.RawMessage` property is an
 *   embedded JSON value on the wire (Go `json.RawMessage`), so it admits any JSON value;
 * - vendor extensions (`x-*`) and OpenAPI-only keywords (`deprecated`, `example`,
 *   `discriminator`, …) are dropped; ajv runs with `strict: false` so annotation typos in the
 *   document (`desription`, `decription`) are ignored too;
 * - `action.data` is a `oneOf` of per-type data schemas that oapi-codegen turns into a Go
 *   union decoded by action type. Read literally it can match nothing (`actionUnenroll` is an
 *   empty schema that matches every value, and `actionInputAction`/`actionRequestDiagnostics`
 *   match every object), so it becomes an `anyOf`, and `data` is checked against the schema of
 *   its action's `type` (`SETTINGS` → `actionSettings`, `POLICY_CHANGE` → `actionPolicyChange`, …)
 *   with `if`/`then`; that is how the reference and the agent read it.
 * Formats used by the document are registered: `date-time` (RFC 3339), `duration` (Go
 * `time.ParseDuration`), `int64`, `double`, `base64`; `password`, `binary` and
 * `application/json` carry no constraint.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

type SchemaObject = Record<string, unknown>;

/** Repo root is four levels up from `services/all-in-one/test/support`; `shared/` is its sibling. */
const DEFAULT_PATH = resolve(__dirname, '..', '..', '..', '..', '..', 'shared', 'reference', 'elastic-fleet-server', 'openapi.yml');

export function referenceOpenApiPath(): string {
  const override = process.env['FLEET_REFERENCE_OPENAPI'];
  return override ? resolve(override) : DEFAULT_PATH;
}

const COMPONENT_REF = '#/components/schemas/';
const ID_BASE = 'https://reference.invalid/elastic-fleet-server/components/schemas/';
export const schemaId = (name: string): string => `${ID_BASE}${name}`;

/** Keywords of OpenAPI schema objects that JSON Schema does not have (or that only annotate). */
const OPENAPI_ONLY = new Set(['nullable', 'deprecated', 'example', 'discriminator', 'xml', 'externalDocs', 'readOnly', 'writeOnly']);

const isObject = (v: unknown): v is SchemaObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Rewrites one OpenAPI 3.0 schema object (recursively) into a JSON Schema ajv can compile. */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!isObject(node)) return node;

  if (node['x-go-type'] === 'json.RawMessage' && node['format'] === 'application/json') {
    // Declared as a string for code generation; an arbitrary embedded JSON value on the wire.
    return typeof node['description'] === 'string' ? { description: node['description'] } : {};
  }

  const out: SchemaObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-') || OPENAPI_ONLY.has(key)) continue;
    if (key === '$ref' && typeof value === 'string') {
      if (!value.startsWith(COMPONENT_REF)) throw new Error(`reference openapi: unsupported $ref ${value}`);
      out[key] = schemaId(value.slice(COMPONENT_REF.length));
    } else if (key === 'properties' || key === 'patternProperties' || key === 'definitions') {
      // Maps of name → schema: recurse into the values, never treat the names as keywords.
      out[key] = isObject(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonSchema(v)])) : value;
    } else if (key === 'enum' || key === 'required' || key === 'examples' || key === 'const' || key === 'default') {
      out[key] = value;
    } else {
      out[key] = toJsonSchema(value);
    }
  }

  if (node['nullable'] === true) {
    const type = out['type'];
    if (typeof type === 'string') out['type'] = [type, 'null'];
    else if (Array.isArray(type) && !type.includes('null')) out['type'] = [...(type as unknown[]), 'null'];
    if (Array.isArray(out['enum']) && !out['enum'].includes(null)) out['enum'] = [...(out['enum'] as unknown[]), null];
  }
  return out;
}

/** `POLICY_CHANGE` → `actionPolicyChange`: the document's naming of per-type action data schemas. */
export const actionDataSchemaName = (type: string): string =>
  `action${type
    .toLowerCase()
    .split('_')
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join('')}`;

/** Turns `action.data`'s unsatisfiable `oneOf` into a union checked per action `type` (see the header). */
function typeDirectedActionData(action: SchemaObject, names: Set<string>): SchemaObject {
  const props = action['properties'];
  if (!isObject(props)) return action;
  const data = props['data'];
  const type = props['type'];
  if (!isObject(data) || !Array.isArray(data['oneOf'])) return action;
  const { oneOf, ...rest } = data;
  const byType: SchemaObject[] = [];
  for (const t of isObject(type) && Array.isArray(type['enum']) ? type['enum'] : []) {
    const name = actionDataSchemaName(String(t));
    if (!names.has(name)) continue;
    byType.push({
      if: { required: ['type'], properties: { type: { const: t } } },
      then: { properties: { data: { $ref: schemaId(name) } } },
    });
  }
  const allOf = [...(Array.isArray(action['allOf']) ? (action['allOf'] as unknown[]) : []), ...byType];
  return { ...action, properties: { ...props, data: { ...rest, anyOf: oneOf } }, ...(allOf.length ? { allOf } : {}) };
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const GO_DURATION = /^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function addFormats(ajv: Ajv): void {
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)) });
  ajv.addFormat('duration', { type: 'string', validate: (s: string) => GO_DURATION.test(s) });
  ajv.addFormat('base64', { type: 'string', validate: (s: string) => BASE64.test(s) });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('double', { type: 'number', validate: (n: number) => Number.isFinite(n) });
  ajv.addFormat('float', { type: 'number', validate: (n: number) => Number.isFinite(n) });
  for (const f of ['password', 'binary', 'byte', 'application/json', 'uuid', 'uri']) ajv.addFormat(f, true);
}

export interface ReferenceOpenApi {
  path: string;
  ajv: Ajv;
  /** Names of `components.schemas`. */
  schemaNames: string[];
  /** The document as parsed (OpenAPI, not rewritten). */
  document: SchemaObject;
}

let loaded: ReferenceOpenApi | undefined;

/** Loads (once) the reference document; throws with a clear message if it is missing or malformed. */
export function loadReferenceOpenApi(): ReferenceOpenApi {
  if (loaded) return loaded;
  const path = referenceOpenApiPath();
  if (!existsSync(path)) {
    throw new Error(
      `Reference OpenAPI document not found at ${path}. It is not part of this repository: it is expected at ` +
        `<repo>/../shared/reference/elastic-fleet-server/openapi.yml (set FLEET_REFERENCE_OPENAPI to another path).`,
    );
  }
  const document: unknown = parseYaml(readFileSync(path, 'utf8'));
  const components = isObject(document) && isObject(document['components']) ? document['components'] : undefined;
  const schemas = components && isObject(components['schemas']) ? components['schemas'] : undefined;
  if (!isObject(document) || !schemas) throw new Error(`Reference OpenAPI document ${path} has no components.schemas`);

  const names = Object.keys(schemas);
  const nameSet = new Set(names);
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
  addFormats(ajv);
  for (const name of names) {
    let schema = toJsonSchema(schemas[name]) as SchemaObject;
    if (name === 'action') schema = typeDirectedActionData(schema, nameSet);
    ajv.addSchema({ ...schema, $id: schemaId(name) });
  }
  loaded = { path, ajv, schemaNames: names, document };
  return loaded;
}

export function hasSchema(name: string): boolean {
  return loadReferenceOpenApi().schemaNames.includes(name);
}

export interface Validation {
  valid: boolean;
  /** ajv's errors, one per line; empty when valid. */
  errors: string;
}

const compiled = new Map<string, ValidateFunction>();

/** A validator for `components.schemas[name]` of the reference document. */
export function validatorFor(name: string): (value: unknown) => Validation {
  const ref = loadReferenceOpenApi();
  let fn = compiled.get(name);
  if (!fn) {
    if (!ref.schemaNames.includes(name)) throw new Error(`Reference OpenAPI ${ref.path} has no components.schemas.${name}`);
    fn = ref.ajv.getSchema(schemaId(name));
    if (!fn) throw new Error(`ajv could not compile components.schemas.${name}`);
    compiled.set(name, fn);
  }
  const validate = fn;
  return (value: unknown) => {
    const valid = validate(value);
    return {
      valid,
      errors: valid ? '' : ref.ajv.errorsText(validate.errors, { separator: '\n', dataVar: name }),
    };
  };
}

/** Asserts (chai AssertionError) that `value` matches `components.schemas[name]`, listing ajv's errors. */
export function expectMatches(name: string, value: unknown, label = name): void {
  const result = validatorFor(name)(value);
  if (!result.valid) {
    expect.fail(`${label} does not match reference schema ${name}:\n${result.errors}\nvalue: ${JSON.stringify(value, null, 2)}`);
  }
}
