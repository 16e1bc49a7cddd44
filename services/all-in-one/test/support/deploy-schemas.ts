/**
 * JSON-schema validation of the deployment files with ajv (draft 2020-12), against the schemas
 * deploy-tools.ts fetches: the Compose Specification for docker-compose.yml, Kubernetes' strict
 * schemas for rendered manifests. Also the compose file as Compose itself reads it: YAML merge
 * keys resolved, then `${VAR}` / `${VAR:-default}` / `${VAR-default}` interpolated from the
 * given variables (the file's defaults when unset), `$$` kept as a literal `$`.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { composeSpecSchemaPath, kubernetesSchemaDir, type K8sObject, type KUBERNETES_VERSIONS } from './deploy-tools';

const formatErrors = (errors: ErrorObject[] | null | undefined): string[] =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`);

/** Compose's interpolation of one string (the subset docker-compose.yml uses, plus `:?`/`?`). */
export function interpolate(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, _inner, name?: string, op?: string, arg?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const key = name ?? bare ?? '';
    const value = vars[key];
    const unsetOrEmpty = value === undefined || value === '';
    switch (op) {
      case ':-':
        return unsetOrEmpty ? (arg ?? '') : value;
      case '-':
        return value === undefined ? (arg ?? '') : value;
      case ':?':
      case '?':
        if (op === ':?' ? unsetOrEmpty : value === undefined) throw new Error(`required variable ${key} is not set: ${arg ?? ''}`);
        return value ?? '';
      default:
        return value ?? '';
    }
  });
}

function interpolateTree(node: unknown, vars: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') return interpolate(node, vars);
  if (Array.isArray(node)) return node.map((n) => interpolateTree(n, vars));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateTree(v, vars)]));
  return node;
}

/** docker-compose.yml as Compose reads it (merge keys resolved, variables interpolated). */
export function loadCompose(text: string, vars: Record<string, string | undefined> = {}): Record<string, unknown> {
  const raw: unknown = parseYaml(text, { merge: true, maxAliasCount: 1000 });
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('a compose file is a mapping');
  return interpolateTree(raw, vars) as Record<string, unknown>;
}

let composeValidator: ValidateFunction | undefined;

/** Errors of a loaded compose model against the Compose Specification (empty when valid). */
export function composeSchemaErrors(model: unknown): string[] {
  if (!composeValidator) {
    const schema = JSON.parse(readFileSync(composeSpecSchemaPath(), 'utf8')) as Record<string, unknown>;
    // compose-go registers `duration` as Go's time.ParseDuration; a close enough check here.
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    ajv.addFormat('duration', /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
    composeValidator = ajv.compile(schema);
  }
  return composeValidator(model) ? [] : formatErrors(composeValidator.errors);
}

type KubernetesVersion = (typeof KUBERNETES_VERSIONS)[number];

/** The schema file of a kind: `deployment-apps-v1.json`, `ingress-networking-v1.json`, `service-v1.json`. */
export function kubernetesSchemaFile(apiVersion: string, kind: string): string {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : (apiVersion.slice(0, slash).split('.')[0] ?? '');
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  return group ? `${kind.toLowerCase()}-${group}-${version}.json` : `${kind.toLowerCase()}-${version}.json`;
}

/** Validates Kubernetes objects against one Kubernetes version's strict schemas. */
export class KubernetesValidator {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly dir: string;

  constructor(readonly version: KubernetesVersion) {
    this.dir = kubernetesSchemaDir(version);
    this.ajv.addSchema(JSON.parse(readFileSync(join(this.dir, '_definitions.json'), 'utf8')) as Record<string, unknown>);
  }

  /** Whether this version has a schema for the object's apiVersion and kind (not for CRDs). */
  hasSchema(obj: Pick<K8sObject, 'apiVersion' | 'kind'>): boolean {
    return existsSync(join(this.dir, kubernetesSchemaFile(obj.apiVersion, obj.kind)));
  }

  /** The object's schema errors (empty when valid); throws when the kind has no schema. */
  errors(obj: K8sObject): string[] {
    const file = kubernetesSchemaFile(obj.apiVersion, obj.kind);
    let validate = this.compiled.get(file);
    if (!validate) {
      const path = join(this.dir, file);
      if (!existsSync(path)) throw new Error(`Kubernetes ${this.version} has no schema for ${obj.apiVersion} ${obj.kind} (${file})`);
      validate = this.ajv.compile(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>);
      this.compiled.set(file, validate);
    }
    return validate(obj) ? [] : formatErrors(validate.errors);
  }
}

type JsonSchema = Record<string, unknown>;

/**
 * A CRD's openAPIV3Schema as a strict JSON schema: an object with `properties` and neither
 * `additionalProperties` nor `x-kubernetes-preserve-unknown-fields` admits no other field (the API
 * server would prune it; here it is an error, as in the built-in kinds' strict schemas), and
 * `x-kubernetes-int-or-string` is an integer or a string. CEL rules (x-kubernetes-validations)
 * are not evaluated.
 */
export function strictCrdSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictCrdSchema);
  if (!node || typeof node !== 'object') return node;
  const src = node as JsonSchema;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(src)) {
    if (k.startsWith('x-kubernetes-')) continue;
    if (k === 'properties' && v && typeof v === 'object') out[k] = Object.fromEntries(Object.entries(v as JsonSchema).map(([p, s]) => [p, strictCrdSchema(s)]));
    else if (['items', 'additionalProperties', 'not', 'allOf', 'anyOf', 'oneOf'].includes(k)) out[k] = typeof v === 'boolean' ? v : strictCrdSchema(v);
    else out[k] = v;
  }
  if (src['x-kubernetes-int-or-string'] === true) {
    delete out['type'];
    out['anyOf'] = [{ type: 'integer' }, { type: 'string' }, ...((out['anyOf'] as unknown[] | undefined) ?? [])];
  }
  if (src['properties'] && src['additionalProperties'] === undefined && src['x-kubernetes-preserve-unknown-fields'] !== true) out['additionalProperties'] = false;
  return out;
}

/** Validates custom resources against the strict schemas of their CRDs (every served version). */
export class CrdValidator {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(crdFiles: string[]) {
    for (const file of crdFiles) {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        const crd = doc.toJS() as { kind?: string; spec?: { group: string; names: { kind: string }; versions: { name: string; served: boolean; schema?: { openAPIV3Schema?: unknown } }[] } } | null;
        if (crd?.kind !== 'CustomResourceDefinition' || !crd.spec) continue;
        for (const v of crd.spec.versions.filter((x) => x.served && x.schema?.openAPIV3Schema)) {
          this.compiled.set(`${crd.spec.group}/${v.name} ${crd.spec.names.kind}`, this.ajv.compile(strictCrdSchema(v.schema!.openAPIV3Schema) as JsonSchema));
        }
      }
    }
  }

  /** `group/version Kind` of every resource it validates. */
  kinds(): string[] {
    return [...this.compiled.keys()].sort();
  }

  has(obj: Pick<K8sObject, 'apiVersion' | 'kind'>): boolean {
    return this.compiled.has(`${obj.apiVersion} ${obj.kind}`);
  }

  errors(obj: K8sObject): string[] {
    const validate = this.compiled.get(`${obj.apiVersion} ${obj.kind}`);
    if (!validate) throw new Error(`no CRD schema for ${obj.apiVersion} ${obj.kind}`);
    return validate(obj) ? [] : formatErrors(validate.errors);
  }
}
