import { readFileSync, statSync } from 'node:fs';
import { stringOption, type OptionValues } from './args';
import { CliError, UsageError } from './errors';

/** Where the server is and how to reach it. */
export interface Connection {
  url: URL;
  token: string;
  ca?: string;
}

/** Most bytes a token file or CA file may hold. */
const MAX_FILE = 64 * 1024;

function readSmallFile(path: string, what: string): string {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new CliError(`${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (size > MAX_FILE) throw new CliError(`${what} ${path}: larger than ${MAX_FILE} bytes`);
  return readFileSync(path, 'utf8');
}

/**
 * The token in `--token-file`, refused (as ssh refuses a private key) when the file is readable or
 * writable by group or others.
 */
export function readTokenFile(path: string): string {
  const { mode } = statSync(path, { throwIfNoEntry: false }) ?? { mode: 0 };
  if (mode === 0) throw new CliError(`--token-file ${path}: no such file`);
  if ((mode & 0o077) !== 0) {
    throw new CliError(`--token-file ${path}: permissions ${(mode & 0o777).toString(8).padStart(4, '0')} are too open; the token must be readable by you only (chmod 600 ${path})`);
  }
  const token = readSmallFile(path, '--token-file').trim();
  if (!token) throw new CliError(`--token-file ${path}: empty`);
  return token;
}

/** The connection from the flags and the environment (flags first). */
export function connectionOf(values: OptionValues, env: Record<string, string | undefined>): Connection {
  const rawUrl = stringOption(values, 'url') ?? env.FLEETCTL_URL;
  if (!rawUrl) throw new UsageError('no server: pass --url URL or set FLEETCTL_URL');
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new UsageError(`--url ${rawUrl}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url ${rawUrl}: must be http or https`);
  const tokenFile = stringOption(values, 'token-file');
  const token = tokenFile !== undefined ? readTokenFile(tokenFile) : env.FLEETCTL_TOKEN?.trim();
  if (!token) throw new UsageError('no token: pass --token-file FILE or set FLEETCTL_TOKEN');
  const caFile = stringOption(values, 'ca');
  return { url, token, ...(caFile !== undefined ? { ca: readSmallFile(caFile, '--ca') } : {}) };
}
