import { runFleetctl } from '@fleet/fleetctl';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Everything every fleetctl run of this process printed (for the secret canary). */
export const transcript: string[] = [];

/** Runs fleetctl in-process with `env`, capturing what it prints. */
export async function fleetctl(argv: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runFleetctl(argv, {
    env,
    stdout: { write: (c: string) => (stdout += c) },
    stderr: { write: (c: string) => (stderr += c) },
  });
  transcript.push(stdout, stderr);
  return { code, stdout, stderr };
}

export const EXAMPLES = resolve(__dirname, '../../examples');

/** A fresh copy of the example directory to edit. */
export function copyExamples(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleetctl-files-'));
  cpSync(EXAMPLES, dir, { recursive: true });
  return dir;
}
