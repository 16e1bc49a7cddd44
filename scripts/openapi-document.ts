/**
 * Writes the management API's OpenAPI 3.1 document (generated from @fleet/management-api's route
 * table) to a file, or checks that the committed one is current.
 *
 *   openapi-document.ts                  prints the document
 *   openapi-document.ts --write FILE     writes it to FILE
 *   openapi-document.ts --check FILE     exits 1 if FILE differs from what the table generates
 *
 * The document's `info.version` is the server version's default (the served document carries the
 * configured one).
 */
import { openApiDocument } from '@fleet/management-api';
import { serverIdentitySchema } from '@fleet/service-kit';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** The document as committed: stable key order, two-space indent, a final newline. */
export function renderOpenApiDocument(): string {
  const version = String((serverIdentitySchema.version as { default: unknown }).default);
  return `${JSON.stringify(openApiDocument({ version }), null, 2)}\n`;
}

export function checkOpenApiDocument(file: string): { ok: boolean; reason?: string } {
  if (!existsSync(file)) return { ok: false, reason: `${file} does not exist` };
  const want = renderOpenApiDocument();
  const have = readFileSync(file, 'utf8');
  if (have === want) return { ok: true };
  const line = have.split('\n').findIndex((l, i) => l !== want.split('\n')[i]);
  return { ok: false, reason: `${file} differs from the route table's document (first at line ${line + 1})` };
}

function main(argv: string[]): number {
  const [flag, file] = argv;
  if (flag === undefined) {
    process.stdout.write(renderOpenApiDocument());
    return 0;
  }
  if ((flag !== '--check' && flag !== '--write') || !file || argv.length > 2) {
    process.stderr.write('usage: openapi-document.ts [--check FILE | --write FILE]\n');
    return 2;
  }
  if (flag === '--write') {
    writeFileSync(file, renderOpenApiDocument());
    process.stdout.write(`${file}: OpenAPI document written\n`);
    return 0;
  }
  const result = checkOpenApiDocument(file);
  if (result.ok) {
    process.stdout.write(`${file}: OpenAPI document is current\n`);
    return 0;
  }
  process.stderr.write(`${result.reason ?? 'OpenAPI document differs'}\nRun \`npm run docs:openapi\` to regenerate it.\n`);
  return 1;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
