import { stringify } from 'yaml';

/** Where fleetctl writes: the streams runFleetctl was given (process.stdout/stderr for the bin). */
export interface Streams {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** A table column: its heading and how to read a cell from a row. */
export interface Column<T> {
  heading: string;
  value: (row: T) => unknown;
}

const MAX_CELL = 60;
const REDACTED = '(secret)';

function cellText(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text;
}

/** Rows as a padded text table with a heading line. */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.heading.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (values: string[]) => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(columns.map((c) => c.heading)), ...cells.map(line)].join('\n') + '\n';
}

/**
 * The one place fleetctl writes to its streams. Every line goes through `redact`: once a secret
 * value is known (a resolved `${ENV}` reference), it is never written, whatever printed it.
 */
export class Output {
  private readonly secrets = new Set<string>();

  constructor(
    private readonly streams: Streams,
    readonly format: OutputFormat = 'table',
  ) {}

  /** Values never to be written again (the secrets the files resolved). */
  addSecret(value: string): void {
    if (value.length > 0) this.secrets.add(value);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join(REDACTED);
    return out;
  }

  /** A line (or lines) of results on stdout. */
  out(text: string): void {
    this.streams.stdout.write(this.redact(text.endsWith('\n') ? text : `${text}\n`));
  }

  /** A line of progress or an error on stderr. */
  err(text: string): void {
    this.streams.stderr.write(this.redact(text.endsWith('\n') ? text : `${text}\n`));
  }

  /** A value as JSON or YAML, or (table) as the columns given. */
  print<T>(value: unknown, rows: readonly T[], columns: readonly Column<T>[]): void {
    if (this.format === 'json') this.out(JSON.stringify(value, null, 2));
    else if (this.format === 'yaml') this.out(stringify(value));
    else this.out(formatTable(rows, columns));
  }

  /** One object: JSON, YAML, or (table) its fields one per line. */
  printItem(value: Record<string, unknown>): void {
    if (this.format === 'table') this.out(formatTable(Object.entries(value), [{ heading: 'FIELD', value: ([k]) => k }, { heading: 'VALUE', value: ([, v]) => v }]));
    else this.print(value, [], []);
  }
}
