/**
 * What the deployment tests read from docker-compose.yml and rendered Kubernetes manifests: the
 * Fleet services in each, and the environment each Fleet container gets.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEnvFile, type ServiceName } from '../../../../deploy/topology/local-topology';
import { schemaLeaves, SERVICES } from '../../../../scripts/config-reference';
import { loadCompose } from './deploy-schemas';
import { REPO_ROOT, type K8sObject } from './deploy-tools';

export const FLEET_SERVICES: readonly ServiceName[] = ['checkin-gateway', 'enrollment', 'policy-dispatcher'];

/** The environment variables a service's convict schema reads. */
export function knownVariables(service: ServiceName): Set<string> {
  const entry = SERVICES.find((s) => s.name === service);
  if (!entry) throw new Error(`no schema for ${service}`);
  return new Set(schemaLeaves(entry.schema).flatMap((l) => (l.env ? [l.env] : [])));
}

/** A schema default of a service, by key path (e.g. `checkin.maxPollMs`). */
export function schemaDefault(service: ServiceName, path: string): unknown {
  const entry = SERVICES.find((s) => s.name === service);
  const leaf = entry && schemaLeaves(entry.schema).find((l) => l.path === path);
  if (!leaf) throw new Error(`${service} has no setting ${path}`);
  return leaf.default;
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; target?: string };
  env_file?: string | (string | { path: string })[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: (string | { type?: string; source?: string; target: string; read_only?: boolean })[];
  healthcheck?: { test?: string | string[] };
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
  stop_grace_period?: string;
  expose?: (string | number)[];
  ports?: unknown[];
  secrets?: (string | { source: string; target?: string })[];
  [key: string]: unknown;
}

export interface ComposeModel {
  services: Record<string, ComposeService>;
  networks?: Record<string, { ipam?: { config?: { subnet?: string; ip_range?: string }[] } } | null>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file?: string; environment?: string }>;
  [key: string]: unknown;
}

export const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.yml');

/** docker-compose.yml with its own defaults for every variable. */
export const readCompose = (): ComposeModel => loadCompose(readFileSync(COMPOSE_FILE, 'utf8')) as ComposeModel;

/** The Fleet replicas of the compose file (built from the Dockerfile's service targets). */
export function composeFleetServices(model: ComposeModel): { name: string; service: ServiceName; spec: ComposeService }[] {
  return Object.entries(model.services).flatMap(([name, spec]) => {
    const target = spec.build?.target as ServiceName | undefined;
    return target && FLEET_SERVICES.includes(target) ? [{ name, service: target, spec }] : [];
  });
}

export function composeEnvFiles(spec: ComposeService): string[] {
  const files = spec.env_file === undefined ? [] : Array.isArray(spec.env_file) ? spec.env_file : [spec.env_file];
  return files.map((f) => (typeof f === 'string' ? f : f.path));
}

/** A compose service's `environment:` as a map (both the map and the list syntax). */
export function composeEnvironmentBlock(spec: ComposeService): Record<string, string> {
  const env = spec.environment;
  if (!env) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((line) => {
        const eq = line.indexOf('=');
        return eq < 0 ? [line, ''] : [line.slice(0, eq), line.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** Everything a compose service's container gets: its env files in order, then `environment:`. */
export function composeContainerEnvironment(spec: ComposeService): Record<string, string> {
  const fromFiles = composeEnvFiles(spec).reduce<Record<string, string>>((env, f) => ({ ...env, ...readEnvFile(join(REPO_ROOT, f)) }), {});
  return { ...fromFiles, ...composeEnvironmentBlock(spec) };
}

export function composeDependsOn(spec: ComposeService): Record<string, string> {
  const deps = spec.depends_on;
  if (!deps) return {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v.condition ?? 'service_started']));
}

/** Volume mounts as {source, target}; short syntax `source:target[:mode]`. */
export function composeMounts(spec: ComposeService): { source: string; target: string; readOnly: boolean }[] {
  return (spec.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source ?? '', target: v.target, readOnly: v.read_only === true };
    const [source = '', target = '', mode = ''] = v.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

/**
 * A service's secrets as {source, path}: compose mounts each at /run/secrets/<target or source>, or
 * at `target` when it is absolute.
 */
export function composeSecretMounts(spec: ComposeService): { source: string; path: string }[] {
  return (spec.secrets ?? []).map((s) => {
    const source = typeof s === 'string' ? s : s.source;
    const target = typeof s === 'string' ? s : (s.target ?? s.source);
    return { source, path: target.startsWith('/') ? target : `/run/secrets/${target}` };
  });
}

// ---------------------------------------------------------------------------------------------
// Rendered Kubernetes manifests

export interface K8sEnvVar {
  name: string;
  value?: string;
  valueFrom?: Record<string, unknown>;
}
export interface K8sProbe {
  httpGet?: { path?: string; port?: number | string; scheme?: string };
  periodSeconds?: number;
}
export interface K8sContainer {
  name: string;
  image?: string;
  ports?: { name?: string; containerPort: number }[];
  env?: K8sEnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string }; prefix?: string }[];
  readinessProbe?: K8sProbe;
  livenessProbe?: K8sProbe;
  startupProbe?: K8sProbe;
  lifecycle?: { preStop?: { exec?: { command?: string[] }; sleep?: { seconds: number } } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
export interface K8sPodSpec {
  containers: K8sContainer[];
  terminationGracePeriodSeconds?: number;
  volumes?: { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] }; emptyDir?: unknown }[];
}
export interface K8sDeployment extends K8sObject {
  spec: { replicas?: number; template: { spec: K8sPodSpec; metadata?: { labels?: Record<string, string> } } };
}

export const ofKind = <T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string): T[] => objects.filter((o) => o.kind === kind) as T[];

/** The Fleet container of each Fleet Deployment (the container is named after its service). */
export function k8sFleetContainers(objects: K8sObject[]): { service: ServiceName; deployment: K8sDeployment; container: K8sContainer }[] {
  return ofKind<K8sDeployment>(objects, 'Deployment').flatMap((deployment) =>
    deployment.spec.template.spec.containers.flatMap((container) => {
      const service = container.name as ServiceName;
      return FLEET_SERVICES.includes(service) ? [{ service, deployment, container }] : [];
    }),
  );
}

/**
 * The variables a container gets: every key of the ConfigMaps it takes with envFrom (resolved in
 * the rendered objects; a missing ConfigMap is an error), then its `env` (values from fieldRef
 * and the like as '').
 */
export function k8sContainerEnvironment(objects: K8sObject[], container: K8sContainer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (!source.configMapRef) throw new Error(`${container.name}: envFrom other than a ConfigMap is not expected`);
    const ref = source.configMapRef.name;
    const cm = ofKind<K8sObject & { data?: Record<string, string> }>(objects, 'ConfigMap').find((c) => c.metadata.name === ref);
    if (!cm) throw new Error(`${container.name}: ConfigMap ${ref} is not in the rendered manifests`);
    for (const [k, v] of Object.entries(cm.data ?? {})) env[`${source.prefix ?? ''}${k}`] = v;
  }
  for (const e of container.env ?? []) env[e.name] = e.value ?? '';
  return env;
}
