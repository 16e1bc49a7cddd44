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
import { runAsScript } from './generated-file-command';

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

runAsScript(module, {
  script: 'openapi-document.ts',
  what: 'OpenAPI document',
  regenerate: 'npm run docs:openapi',
  render: renderOpenApiDocument,
  write: (file) => {
    writeFileSync(file, renderOpenApiDocument());
    return `${file}: OpenAPI document written`;
  },
  check: checkOpenApiDocument,
});
