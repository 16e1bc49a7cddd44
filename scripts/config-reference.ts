/**
 * Renders the configuration reference of every service from its convict schema, as one markdown
 * table, and keeps its copy in docs/configuration.md current.
 *
 *   config-reference.ts                  prints the table
 *   config-reference.ts --check FILE     exits 1 if FILE's generated section differs
 *   config-reference.ts --write FILE     replaces FILE's generated section
 *
 * The section sits between `<!-- config-reference:start -->` and `<!-- config-reference:end -->`.
 */
import { allInOneSchema } from '@fleet/all-in-one';
import { checkinGatewayServiceSchema } from '@fleet/checkin-gateway';
import { enrollmentServiceSchema } from '@fleet/enrollment';
import { policyDispatcherServiceSchema } from '@fleet/policy-dispatcher';
import { readFileSync, writeFileSync } from 'node:fs';
import { runAsScript } from './generated-file-command';

export const START_MARKER = '<!-- config-reference:start -->';
export const END_MARKER = '<!-- config-reference:end -->';

/** The processes whose schemas are documented, in column order. */
export const SERVICES = [
  { column: 'E', name: 'enrollment', pkg: 'services/enrollment', schema: enrollmentServiceSchema as object },
  { column: 'G', name: 'checkin-gateway', pkg: 'services/checkin-gateway', schema: checkinGatewayServiceSchema as object },
  { column: 'D', name: 'policy-dispatcher', pkg: 'services/policy-dispatcher', schema: policyDispatcherServiceSchema as object },
  { column: 'A', name: 'all-in-one', pkg: 'services/all-in-one', schema: allInOneSchema as object },
] as const;

type Column = (typeof SERVICES)[number]['column'];

/** One leaf of one schema. */
export interface SettingLeaf {
  path: string;
  env?: string;
  doc?: string;
  default: unknown;
  format: unknown;
  sensitive: boolean;
}

/** One row of the reference: a key path and what each service declares for it. */
export interface SettingRow {
  path: string;
  byService: Partial<Record<Column, SettingLeaf>>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Walks a convict schema the way convict does: an object without `default` is a group. */
export function schemaLeaves(schema: object, prefix = ''): SettingLeaf[] {
  const leaves: SettingLeaf[] = [];
  for (const [key, node] of Object.entries(schema)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(node) && Object.keys(node).length > 0 && !('default' in node)) {
      leaves.push(...schemaLeaves(node, path));
      continue;
    }
    const prop: Record<string, unknown> = isPlainObject(node) && 'default' in node ? node : { default: node };
    leaves.push({
      path,
      ...(typeof prop.env === 'string' ? { env: prop.env } : {}),
      ...(typeof prop.doc === 'string' ? { doc: prop.doc } : {}),
      default: prop.default,
      format: prop.format,
      sensitive: prop.sensitive === true,
    });
  }
  return leaves;
}

/** Every setting of every service, in schema order (all-in-one first, as it holds nearly all). */
export function collectSettings(): SettingRow[] {
  const rows = new Map<string, SettingRow>();
  const order: readonly Column[] = ['A', 'E', 'G', 'D'];
  for (const column of order) {
    const service = SERVICES.find((s) => s.column === column);
    if (!service) continue;
    for (const leaf of schemaLeaves(service.schema)) {
      let row = rows.get(leaf.path);
      if (!row) {
        row = { path: leaf.path, byService: {} };
        rows.set(leaf.path, row);
      }
      row.byService[column] = leaf;
    }
  }
  return [...rows.values()];
}

const HUMAN_MS: readonly [number, string][] = [
  [3_600_000, 'h'],
  [60_000, 'min'],
  [1000, 's'],
];
const HUMAN_BYTES: readonly [number, string][] = [
  [1024 * 1024, 'MiB'],
  [1024, 'KiB'],
];

function humanize(path: string, value: number): string | undefined {
  const units = /Ms$/.test(path) ? HUMAN_MS : /Bytes$/.test(path) ? HUMAN_BYTES : undefined;
  if (!units || value === 0) return undefined;
  for (const [size, unit] of units) {
    if (value >= size && value % size === 0) return `${value / size} ${unit}`;
  }
  return undefined;
}

const escapeCell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function formatDefault(leaf: SettingLeaf): string {
  if (leaf.sensitive) return '';
  const value = leaf.default;
  if (typeof value === 'number') {
    const human = humanize(leaf.path, value);
    return human ? `\`${value}\` (${human})` : `\`${value}\``;
  }
  if (typeof value === 'string') return `\`${JSON.stringify(value)}\``;
  return `\`${JSON.stringify(value)}\``;
}

function formatDoc(leaf: SettingLeaf): string {
  let doc = leaf.doc ?? '';
  if (Array.isArray(leaf.format)) {
    const values = leaf.format.map(String);
    if (!values.every((v) => doc.includes(v))) {
      doc = `${doc} One of: ${values.map((v) => `\`${v}\``).join(', ')}.`.trim();
    }
  }
  if (leaf.sensitive) doc = `${doc} (Sensitive: its value is never shown.)`.trim();
  return doc;
}

/** One value per row when the services agree, else `A: x; E: y` per service. */
function perService(row: SettingRow, render: (leaf: SettingLeaf) => string): string {
  const values = SERVICES.flatMap((s) => {
    const leaf = row.byService[s.column];
    return leaf ? [{ column: s.column, value: render(leaf) }] : [];
  });
  const distinct = new Set(values.map((v) => v.value));
  if (distinct.size <= 1) return values[0]?.value ?? '';
  return values.map((v) => `${v.column}: ${v.value}`).join('; ');
}

/** The generated block that sits between the markers of docs/configuration.md. */
export function renderConfigReference(): string {
  const rows = collectSettings();
  const legend = SERVICES.map((s) => `**${s.column}** = ${s.name} (\`${s.pkg}\`)`).join(', ');
  const lines: string[] = [
    `<!-- Generated by scripts/config-reference.ts from the convict schemas; run \`npm run docs:config\` after changing a schema. -->`,
    '',
    `${rows.length} settings. Columns: ${legend}; ✓ means that process reads the setting.`,
    '',
    '| Key | Environment variable | Default | E | G | D | A | Description |',
    '| --- | --- | --- | :-: | :-: | :-: | :-: | --- |',
  ];
  for (const row of rows) {
    const env = perService(row, (leaf) => (leaf.env ? `\`${leaf.env}\`` : ''));
    const def = perService(row, formatDefault);
    const doc = perService(row, formatDoc);
    const marks = SERVICES.map((s) => (row.byService[s.column] ? '✓' : ''));
    lines.push(`| \`${row.path}\` | ${escapeCell(env)} | ${escapeCell(def)} | ${marks.join(' | ')} | ${escapeCell(doc)} |`);
  }
  return lines.join('\n');
}

/** The text between the markers (trimmed), or undefined when the markers are missing or out of order. */
export function extractSection(text: string): string | undefined {
  const start = text.indexOf(START_MARKER);
  const end = text.indexOf(END_MARKER);
  if (start < 0 || end < 0 || end < start) return undefined;
  return text.slice(start + START_MARKER.length, end).trim();
}

/** `text` with the section between the markers replaced by `generated`. */
export function replaceSection(text: string, generated: string): string {
  const start = text.indexOf(START_MARKER);
  const end = text.indexOf(END_MARKER);
  if (start < 0 || end < 0 || end < start) {
    throw new Error(`markers ${START_MARKER} ... ${END_MARKER} not found (or out of order)`);
  }
  return `${text.slice(0, start + START_MARKER.length)}\n${generated}\n${text.slice(end)}`;
}

export interface CheckResult {
  ok: boolean;
  /** Why the check failed, for the error message. */
  reason?: string;
}

/** Compares the generated section of `file` with what the schemas produce now. */
export function checkConfigReference(file: string): CheckResult {
  const current = extractSection(readFileSync(file, 'utf8'));
  if (current === undefined) return { ok: false, reason: `${file} has no ${START_MARKER} ... ${END_MARKER} section` };
  const expected = renderConfigReference().trim();
  if (current === expected) return { ok: true };
  const have = current.split('\n');
  const want = expected.split('\n');
  const line = want.findIndex((l, i) => have[i] !== l);
  const at = line < 0 ? want.length : line;
  return {
    ok: false,
    reason: `${file}: configuration reference is out of date (first difference at line ${at + 1} of the section: expected ${JSON.stringify(want[at] ?? '<end>')}, found ${JSON.stringify(have[at] ?? '<end>')})`,
  };
}

/** Rewrites the generated section of `file`; returns true when the file changed. */
export function writeConfigReference(file: string): boolean {
  const before = readFileSync(file, 'utf8');
  const after = replaceSection(before, renderConfigReference());
  if (after === before) return false;
  writeFileSync(file, after);
  return true;
}

runAsScript(module, {
  script: 'config-reference.ts',
  what: 'configuration reference',
  regenerate: 'npm run docs:config',
  render: () => `${renderConfigReference()}\n`,
  write: (file) => `${file}: configuration reference ${writeConfigReference(file) ? 'updated' : 'already current'}`,
  check: checkConfigReference,
});
