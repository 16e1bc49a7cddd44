import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  checkConfigReference,
  collectSettings,
  extractSection,
  renderConfigReference,
  replaceSection,
  END_MARKER,
  START_MARKER,
} from '../../../scripts/config-reference';

const REFERENCE = resolve(__dirname, '../../../docs/configuration.md');

const STANDARD_OTEL_VARIABLES = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL'];

describe('configuration reference (docs/configuration.md)', () => {
  it('the generated section of docs/configuration.md matches what the schemas generate (run `npm run docs:config` if not)', () => {
    const result = checkConfigReference(REFERENCE);
    expect(result.ok, result.reason).to.equal(true);
  });

  it('documents every setting with an environment variable and a description', () => {
    const rows = collectSettings();
    expect(rows.length).to.be.greaterThan(0);
    for (const row of rows) {
      for (const [column, leaf] of Object.entries(row.byService)) {
        // FLEET_*, except the collector's address and encoding, which keep OpenTelemetry's standard names.
        if (!STANDARD_OTEL_VARIABLES.includes(leaf.env ?? '')) expect(leaf.env, `${row.path} (${column}) has no env`).to.match(/^FLEET_[A-Z0-9_]+$/);
        expect(leaf.doc, `${row.path} (${column}) has no doc`).to.be.a('string').and.not.equal('');
      }
    }
  });

  it('gives every environment variable to exactly one key path', () => {
    const owner = new Map<string, string>();
    for (const row of collectSettings()) {
      for (const leaf of Object.values(row.byService)) {
        if (!leaf.env) continue;
        const previous = owner.get(leaf.env);
        expect(previous === undefined || previous === row.path, `${leaf.env} names ${previous} and ${row.path}`).to.equal(true);
        owner.set(leaf.env, row.path);
      }
    }
  });

  it('lists every setting of every schema in the rendered table', () => {
    const table = renderConfigReference();
    for (const row of collectSettings()) expect(table).to.contain(`| \`${row.path}\` |`);
  });

  it('never renders the default of a sensitive setting', () => {
    const table = renderConfigReference();
    const line = table.split('\n').find((l) => l.startsWith('| `admin.token` |'));
    expect(line, 'admin.token row').to.be.a('string');
    expect(line?.split('|')[3]?.trim()).to.equal('');
  });

  it('replaces only the text between the markers', () => {
    const doc = `# Title\n\nbefore\n${START_MARKER}\nold table\n${END_MARKER}\nafter\n`;
    const updated = replaceSection(doc, 'new table');
    expect(updated).to.equal(`# Title\n\nbefore\n${START_MARKER}\nnew table\n${END_MARKER}\nafter\n`);
    expect(extractSection(updated)).to.equal('new table');
    expect(extractSection('no markers here')).to.equal(undefined);
    expect(() => replaceSection('no markers here', 'x')).to.throw(/markers/);
  });

  it('docs/configuration.md keeps exactly one generated section', () => {
    const text = readFileSync(REFERENCE, 'utf8');
    expect(text.split(START_MARKER).length - 1).to.equal(1);
    expect(text.split(END_MARKER).length - 1).to.equal(1);
  });
});
