import { stringify } from 'yaml';
import { counts, hasChanges, type FieldChange, type Plan } from './compute-plan';
import { diffLines, withContext } from './line-diff';
import { maskPaths, sameValue, valueAt, type ValuePath } from './secrets';

const SECRET = '(secret)';
const SECRET_CHANGED = '(secret changed)';
/** A value of a `secrets` field the server will store (it shows only the reference afterwards). */
const SECRET_SET = '(secret: set)';
const INDENT = '    ';

const isScalar = (v: unknown): boolean => v === null || v === undefined || typeof v !== 'object';
const show = (v: unknown): string => (v === undefined ? '(unset)' : JSON.stringify(v));
const yamlLines = (v: unknown): string[] => (v === undefined ? [] : stringify(v, { lineWidth: 0 }).trimEnd().split('\n'));

/**
 * A field's values with every secret replaced: the file's by `(secret)` (or `(secret changed)`
 * when it differs from the server's), the server's by `(secret)`. Neither value is ever shown.
 */
function masked(c: FieldChange): { before: unknown; after: unknown } {
  if (!c.secretPaths.length) return { before: c.before, after: c.after };
  const changed = (p: ValuePath) => !sameValue(valueAt(c.before, p), valueAt(c.after, p));
  return {
    before: maskPaths(c.before, c.secretPaths, () => SECRET),
    after: maskPaths(c.after, c.secretPaths, (p) => (valueAt(c.before, p) !== undefined && changed(p) ? SECRET_CHANGED : p.includes('secrets') ? SECRET_SET : SECRET)),
  };
}

function fieldLines(c: FieldChange, op: '+' | '~'): string[] {
  const { before, after } = masked(c);
  if (op === '+') {
    if (isScalar(after)) return [`${INDENT}+ ${c.field}: ${typeof after === 'string' && c.secretPaths.some((p) => p.length === 0) ? after : show(after)}`];
    return [`${INDENT}+ ${c.field}:`, ...yamlLines(after).map((l) => `${INDENT}    ${l}`)];
  }
  if (isScalar(before) && isScalar(after)) {
    if (c.secretPaths.some((p) => p.length === 0)) return [`${INDENT}~ ${c.field}: ${SECRET_CHANGED}`];
    return [`${INDENT}~ ${c.field}: ${show(before)} → ${show(after)}`];
  }
  const lines = withContext(diffLines(yamlLines(before), yamlLines(after)));
  return [`${INDENT}~ ${c.field}:`, ...lines.map((l) => `${INDENT}  ${l.op} ${l.text}`.trimEnd())];
}

/** The plan as people read it (Terraform-like), ending with its summary line. */
export function renderPlan(plan: Plan): string {
  const out: string[] = [];
  for (const p of plan.policyCreates) {
    out.push(`+ ${p.label} (create)`);
    const fields = Object.entries(p.body).sort(([a], [b]) => Number(b === 'id') - Number(a === 'id'));
    for (const [field, after] of fields) {
      if (after === undefined) continue;
      out.push(...fieldLines({ field, before: undefined, after, secretPaths: p.secretPaths.filter((s) => s[0] === field).map((s) => s.slice(1)) }, '+'));
    }
  }
  for (const p of plan.policyUpdates) {
    out.push(`~ ${p.label} (update, revision ${p.revision})`);
    for (const c of p.changes) out.push(...fieldLines(c, '~'));
  }
  for (const t of plan.tokenCreates) {
    if (t.replaces) {
      out.push(`-/+ ${t.label} (replace: tokens cannot be updated)`);
      for (const c of t.replaces.changes) out.push(...fieldLines(c, '~'));
    } else {
      out.push(`+ ${t.label} (create)`);
      if (t.expiration !== undefined) out.push(`${INDENT}+ expiration: ${show(t.expiration)}`);
    }
  }
  for (const t of plan.tokenRevokes) out.push(`- ${t.label} (revoke)`);
  for (const p of plan.policyDeletes) {
    const why = p.agents === 0 ? '' : p.refused ? `, refused: ${p.agents} agent(s) use it; --force unenrolls them` : `, force: ${p.agents} agent(s) will be unenrolled`;
    out.push(`- ${p.label} (delete${why})`);
  }
  if (!hasChanges(plan)) return 'No changes: the server matches the files.\n';
  const n = counts(plan);
  out.push('', `Plan: ${n.create} to create, ${n.update} to update, ${n.delete} to delete.`);
  return `${out.join('\n')}\n`;
}
