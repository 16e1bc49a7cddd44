import { assertStrongToken, readSecretFile, type AdminConfig } from '@fleet/service-kit';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ResolvedAdminToken {
  token: string;
  /** Where the token lives, when it came from (or was generated into) a file. */
  file?: string;
  generated: boolean;
}

const SETTING = 'FLEET_ADMIN_TOKEN / FLEET_ADMIN_TOKEN_FILE';

/**
 * The bootstrap admin token of the management API (role admin, actor "bootstrap"): from config,
 * else from `tokenFile`, else from `<dataDir>/admin-token`, generated there with mode 0600 on first
 * start. A configured token (or file) too weak to be a secret stops the process with a `ConfigError`.
 */
export function resolveAdminToken(config: AdminConfig, dataDir: string): ResolvedAdminToken {
  if (config.token) {
    assertStrongToken(config.token, 'the bootstrap admin token', SETTING);
    return { token: config.token, generated: false };
  }
  const file = config.tokenFile || `${dataDir}/admin-token`;
  if (existsSync(file)) {
    const token = readSecretFile(file, 'admin token');
    assertStrongToken(token, `the bootstrap admin token in ${file}`, SETTING);
    return { token, file, generated: false };
  }
  if (config.tokenFile) readSecretFile(file, 'admin token');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { token, file, generated: true };
}
