import { PgpKeyNotFoundError, PgpKeyPermissionsError } from '@fleet/service-kit';
import { readFile, stat } from 'node:fs/promises';

/** The only mode the key file may have (elastic/fleet-server refuses any other). */
const KEY_FILE_MODE = 0o600;

/**
 * The PGP key agents verify upgrades with, read from `file` on each request (it is small, and a
 * replaced key is served at once). Missing: `PgpKeyNotFoundError`; a mode other than 0600:
 * `PgpKeyPermissionsError`. Unlike elastic/fleet-server, a missing key is never downloaded.
 */
export async function readPgpKey(file: string): Promise<Buffer> {
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PgpKeyNotFoundError('pgp key not found');
    throw err;
  }
  if (!info.isFile()) throw new PgpKeyNotFoundError('pgp key not found');
  if ((info.mode & 0o777) !== KEY_FILE_MODE) throw new PgpKeyPermissionsError(`pgp key permissions are not 0${KEY_FILE_MODE.toString(8)}`);
  return readFile(file);
}
