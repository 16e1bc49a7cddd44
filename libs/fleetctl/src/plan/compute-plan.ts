import { AGENT_POLICY_FIELDS } from '@fleet/management-api';
import type { AgentPolicy, AgentPolicyUpdate, EnrollmentKey } from '../client';
import { CliError } from '../errors';
import type { Desired, DesiredPolicy, DesiredToken, PolicyBody } from './load-files';
import { sameValue, valueAt, type ValuePath } from './secrets';
import { keepStoredSecrets } from './stored-secrets';

/** One field that differs: the server's value, the file's, and the secret paths inside it. */
export interface FieldChange {
  field: string;
  before: unknown;
  after: unknown;
  /** Paths (inside the field's value; [] is the field itself) that hold secrets. */
  secretPaths: ValuePath[];
}

export interface PolicyCreate {
  label: string;
  file: string;
  body: PolicyBody;
  secretPaths: ValuePath[];
}
export interface PolicyUpdate {
  label: string;
  file: string;
  id: string;
  /** The revision the plan read: the update is sent with `If-Match` on it. */
  revision: number;
  changes: FieldChange[];
  body: AgentPolicyUpdate;
}
export interface PolicyDelete {
  label: string;
  id: string;
  revision: number;
  agents: number;
  /** In use and no --force: apply refuses to run. */
  refused: boolean;
}
export interface TokenCreate {
  label: string;
  file: string;
  name: string;
  /** The policy's id, or (a policy this apply creates without an id) its name. */
  policy: { id: string } | { name: string };
  expiration?: string;
  /** The active token this one replaces (revoked first: tokens cannot be updated). */
  replaces?: { id: string; changes: FieldChange[] };
}
export interface TokenRevoke {
  label: string;
  id: string;
}

export interface Plan {
  policyCreates: PolicyCreate[];
  policyUpdates: PolicyUpdate[];
  tokenCreates: TokenCreate[];
  tokenRevokes: TokenRevoke[];
  policyDeletes: PolicyDelete[];
}

export interface PlanOptions {
  prune: boolean;
  force: boolean;
  /** Send every `secrets` value again, to be stored anew (otherwise a secret the server holds is kept). */
  rotateSecrets?: boolean;
}

/**
 * Fields the files manage: the settable fields of a policy (AGENT_POLICY_FIELDS). A field absent
 * from a file is not managed: the server keeps its value (and its defaults never show as a diff).
 * Server-managed fields (revision, status, timestamps, agents) are never compared.
 */
const MANAGED = new Set<string>(AGENT_POLICY_FIELDS);

export const policyLabel = (p: { id?: string | undefined; name: string }): string => `agent_policy "${p.id ?? p.name}"`;
const tokenLabel = (policy: string, name: string): string => `enrollment_token "${policy}/${name}"`;

/** The name a token was given: the server stores `${name} (${id})`. */
export function tokenBaseName(key: Pick<EnrollmentKey, 'name'>): string {
  return key.name.replace(/ \([^()]*\)$/, '');
}

const relativeSecrets = (paths: readonly ValuePath[], field: string): ValuePath[] => paths.filter((p) => p[0] === field).map((p) => p.slice(1));

function policyChanges(d: DesiredPolicy, server: AgentPolicy): FieldChange[] {
  const changes: FieldChange[] = [];
  const current = server as unknown as Record<string, unknown>;
  for (const [field, after] of Object.entries(d.body)) {
    if (!MANAGED.has(field) || after === undefined) continue;
    const before = current[field];
    if (!sameValue(before, after)) changes.push({ field, before, after, secretPaths: relativeSecrets(d.secretPaths, field) });
  }
  return changes;
}

/** The secret values the server holds at the files' secret paths (never to be printed either). */
export function serverSecretValues(desired: Desired, policies: readonly AgentPolicy[]): string[] {
  const out: string[] = [];
  for (const d of desired.policies) {
    const server = matchPolicy(d, policies);
    if (!server) continue;
    for (const path of d.secretPaths) {
      const v = valueAt(server, path);
      if (typeof v === 'string' && v) out.push(v);
    }
  }
  return out;
}

function matchPolicy(d: DesiredPolicy, policies: readonly AgentPolicy[]): AgentPolicy | undefined {
  return d.body.id !== undefined ? policies.find((p) => p.id === d.body.id) : policies.find((p) => p.name === d.body.name);
}

/**
 * The changes that make the server match the files: policies by id (else name), tokens by
 * (policy, name) among the active ones; with `prune`, what the files do not name is deleted.
 */
export function computePlan(desired: Desired, policies: readonly AgentPolicy[], keys: readonly EnrollmentKey[], opts: PlanOptions): Plan {
  const plan: Plan = { policyCreates: [], policyUpdates: [], tokenCreates: [], tokenRevokes: [], policyDeletes: [] };
  /** Server policies the files name (by file or by a token's reference). */
  const kept = new Set<string>();
  /** How the files name the server policies they manage (for the labels of their tokens). */
  const fileLabels = new Map<string, string>();

  for (const d of desired.policies) {
    const server = matchPolicy(d, policies);
    if (!server) {
      plan.policyCreates.push({ label: policyLabel(d.body), file: d.file, body: d.body, secretPaths: d.secretPaths });
      continue;
    }
    kept.add(server.id);
    fileLabels.set(server.id, d.body.id ?? d.body.name);
    // The server shows a stored secret only by reference: one it holds is kept, never a diff.
    const compared = opts.rotateSecrets ? d : { ...d, body: keepStoredSecrets(d.body, server as Parameters<typeof keepStoredSecrets>[1]) };
    const changes = policyChanges(compared, server);
    if (!changes.length) continue;
    const body: Record<string, unknown> = {};
    for (const c of changes) body[c.field] = c.after;
    plan.policyUpdates.push({ label: policyLabel(d.body), file: d.file, id: server.id, revision: server.revision, changes, body: body });
  }

  const active = keys.filter((k) => k.active);
  const matchedKeys = new Set<string>();
  for (const t of desired.tokens) {
    const ref = resolveTokenPolicy(t, desired, policies);
    if ('id' in ref) kept.add(ref.id);
    const label = tokenLabel('id' in t.policy ? t.policy.id : t.policy.name, t.name);
    const existing = 'id' in ref ? active.find((k) => k.policy_id === ref.id && tokenBaseName(k) === t.name) : undefined;
    const create: TokenCreate = { label, file: t.file, name: t.name, policy: ref, ...(t.expiration !== undefined ? { expiration: t.expiration } : {}) };
    if (!existing) {
      plan.tokenCreates.push(create);
      continue;
    }
    matchedKeys.add(existing.id);
    // Only the expiration can differ (the name and policy identify the token); absent = not managed.
    if (t.expiration !== undefined && Date.parse(t.expiration) !== Date.parse(existing.expire_at ?? '')) {
      const secretPaths = relativeSecrets(t.secretPaths, 'expiration');
      plan.tokenCreates.push({ ...create, replaces: { id: existing.id, changes: [{ field: 'expiration', before: existing.expire_at, after: t.expiration, secretPaths }] } });
    }
  }

  if (opts.prune) {
    const deleted = new Set<string>();
    for (const p of policies) {
      if (kept.has(p.id) || p.is_managed) continue;
      deleted.add(p.id);
      const agents = p.agents ?? 0;
      plan.policyDeletes.push({ label: policyLabel(p), id: p.id, revision: p.revision, agents, refused: agents > 0 && !opts.force });
    }
    const managedPolicies = new Set([...kept, ...deleted]);
    for (const k of active) {
      if (matchedKeys.has(k.id) || !managedPolicies.has(k.policy_id)) continue;
      plan.tokenRevokes.push({ label: tokenLabel(fileLabels.get(k.policy_id) ?? k.policy_id, tokenBaseName(k)), id: k.id });
    }
  }
  return plan;
}

/** A token's policy: a server policy's id, or the name of a policy the files create without an id. */
function resolveTokenPolicy(t: DesiredToken, desired: Desired, policies: readonly AgentPolicy[]): { id: string } | { name: string } {
  if ('id' in t.policy) {
    const id = t.policy.id;
    if (policies.some((p) => p.id === id) || desired.policies.some((p) => p.body.id === id)) return { id };
    throw new CliError(`${t.file}: policy_id: no agent policy "${id}" in the files or on the server`);
  }
  const name = t.policy.name;
  const file = desired.policies.find((p) => p.body.name === name);
  const server = policies.find((p) => p.name === name);
  if (file?.body.id !== undefined) return { id: file.body.id };
  if (server) return { id: server.id };
  if (file) return { name };
  throw new CliError(`${t.file}: policy_name: no agent policy named "${name}" in the files or on the server`);
}

export function counts(plan: Plan): { create: number; update: number; delete: number } {
  const replaced = plan.tokenCreates.filter((t) => t.replaces).length;
  return {
    create: plan.policyCreates.length + plan.tokenCreates.length,
    update: plan.policyUpdates.length,
    delete: plan.policyDeletes.length + plan.tokenRevokes.length + replaced,
  };
}

export const hasChanges = (plan: Plan): boolean => Object.values(counts(plan)).some((n) => n > 0);
