import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import type { FleetClient, PolicyAnswer } from '../client';
import { ApiError, CliError, EXIT } from '../errors';
import type { Output } from '../output';
import type { Plan } from './compute-plan';

/** A token created by apply, as `--tokens-out` writes it. */
export interface CreatedToken {
  policy_id: string;
  name: string;
  id: string;
  api_key: string;
}

/** A conflict stops apply: what changed underneath, and what to do. */
function conflict(label: string, err: ApiError, revision?: number): CliError {
  const what = revision !== undefined ? `${label} changed on the server since the plan read revision ${revision} (${err.message})` : `${label}: ${err.message}`;
  return new CliError(`conflict: ${what}. Nothing after it was applied; re-run plan.`, EXIT.conflict);
}

async function step<T>(label: string, run: () => Promise<T>, revision?: number): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ApiError && err.isConflict) throw conflict(label, err, revision);
    if (err instanceof ApiError) throw new CliError(`${label}: ${err.message}`, err.exitCode);
    throw err;
  }
}

/**
 * Applies a plan in a safe order: policies (create, update: with If-Match on the revision the plan
 * read), then tokens (create; a replaced token is revoked just before its successor is created),
 * then token revokes, then policy deletes. Stops at the first error; a 409/412 is a conflict (exit 4).
 * Answers the tokens created; their secrets go to `tokensOut` only (as each is created), never to the output.
 */
export async function applyPlan(client: FleetClient, plan: Plan, out: Output, opts: { tokensOut?: string } = {}): Promise<CreatedToken[]> {
  const refused = plan.policyDeletes.filter((p) => p.refused);
  if (refused.length) {
    throw new CliError(`refusing to apply: ${refused.map((p) => `${p.label} is used by ${p.agents} agent(s)`).join('; ')}. Reassign them, or pass --force to delete anyway (their agents are unenrolled).`);
  }
  const createdIds = new Map<string, string>();
  for (const p of plan.policyCreates) {
    const { item, warnings } = await step(p.label, () => client.createPolicy(p.body));
    createdIds.set(p.body.name, item.id);
    out.out(`${p.label}: created (id ${item.id}, revision ${item.revision})`);
    printWarnings(out, p.label, warnings);
  }
  for (const p of plan.policyUpdates) {
    const { item, warnings } = await step(p.label, () => client.updatePolicy(p.id, p.body, p.revision), p.revision);
    out.out(`${p.label}: updated (revision ${p.revision} → ${item.revision})`);
    printWarnings(out, p.label, warnings);
  }
  const tokens: CreatedToken[] = [];
  for (const t of plan.tokenCreates) {
    const policyId = 'id' in t.policy ? t.policy.id : createdIds.get(t.policy.name);
    if (policyId === undefined) throw new CliError(`${t.label}: its policy "${'name' in t.policy ? t.policy.name : ''}" was not created`);
    if (t.replaces) {
      const old = t.replaces.id;
      await step(t.label, () => client.revokeEnrollmentKey(old));
      out.out(`${t.label}: revoked ${old} (replaced)`);
    }
    const item = await step(t.label, () => client.createEnrollmentKey({ policy_id: policyId, name: t.name, ...(t.expiration !== undefined ? { expiration: t.expiration } : {}) }));
    if (item.api_key) out.addSecret(item.api_key);
    const created = { policy_id: policyId, name: t.name, id: item.id, api_key: item.api_key ?? '' };
    tokens.push(created);
    // Written at once: should a later step fail, the token is not lost.
    if (opts.tokensOut !== undefined) writeTokens(opts.tokensOut, [created]);
    out.out(`${t.label}: created (id ${item.id})`);
  }
  for (const t of plan.tokenRevokes) {
    await step(t.label, () => client.revokeEnrollmentKey(t.id));
    out.out(`${t.label}: revoked`);
  }
  for (const p of plan.policyDeletes) {
    await step(p.label, () => client.deletePolicy(p.id, { revision: p.revision, ...(p.agents > 0 ? { force: true } : {}) }), p.revision);
    out.out(`${p.label}: deleted${p.agents > 0 ? ` (${p.agents} agent(s) unenrolled)` : ''}`);
  }
  return tokens;
}

/** The server's word on a saved policy's outputs (agents without keys of their own), on stderr. */
export function printWarnings(out: Output, label: string, warnings: PolicyAnswer['warnings']): void {
  for (const w of warnings ?? []) out.err(`warning: ${label}: ${w.message}`);
}

/** Adds the created tokens to `file` (JSON, mode 0600), keeping those it held. */
export function writeTokens(file: string, tokens: CreatedToken[]): void {
  let previous: CreatedToken[] = [];
  if (existsSync(file)) {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { tokens?: CreatedToken[] };
      previous = Array.isArray(parsed.tokens) ? parsed.tokens : [];
    } catch {
      throw new CliError(`--tokens-out ${file}: exists and is not a tokens file; not overwritten`);
    }
  }
  writeFileSync(file, `${JSON.stringify({ tokens: [...previous, ...tokens] }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}
