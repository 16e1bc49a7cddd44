import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/** What the benches print and write: one line per figure as it is measured, then one table. */
export const out = (s: string): void => void process.stdout.write(`${s}\n`);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The machine every figure is given with. */
export const machine = { cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
export const machineLine = `${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`;

/** `{ '429': 3, ECONNREFUSED: 1 }` as `429×3, ECONNREFUSED×1`, or `none`. */
export const formatCounts = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .map(([k, v]) => `${k}×${v}`)
    .join(', ') || 'none';

interface Row {
  scenario: string;
  figure: string;
  value: string;
  target: string;
}

export class BenchReport {
  private readonly rows: Row[] = [];

  row(scenario: string, figure: string, value: string, target = ''): void {
    this.rows.push({ scenario, figure, value, target });
    out(`  ${scenario}: ${figure} = ${value}${target ? ` (target ${target})` : ''}`);
  }

  /** Writes the figures to loadtest/results/<name>-<time>.json and prints them as one table. */
  finish(name: string, extra: Record<string, unknown> = {}): void {
    mkdirSync(join(__dirname, 'results'), { recursive: true });
    const file = join(__dirname, 'results', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ machine, ...extra, rows: this.rows }, null, 2));
    out('');
    out('| Scenario | Figure | Measured | Target |');
    out('| --- | --- | --- | --- |');
    for (const r of this.rows) out(`| ${r.scenario} | ${r.figure} | ${r.value} | ${r.target} |`);
    out(`\nfigures written to ${file}`);
  }
}
