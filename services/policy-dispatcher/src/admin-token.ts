import { AdminUnauthorizedError, readSecretFile, type AdminConfig } from '@fleet/service-kit';
import { constantTimeEquals } from '@fleet/store';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RequestHandler } from 'express';

export interface ResolvedAdminToken {
  token: string;
  /** Where the token lives, when it came from (or was generated into) a file. */
  file?: string;
  generated: boolean;
}

/**
 * The management API token: from config, else from `tokenFile`, else from `<dataDir>/admin-token`,
 * generated there with mode 0600 on first start.
 */
export function resolveAdminToken(config: AdminConfig, dataDir: string): ResolvedAdminToken {
  if (config.token) return { token: config.token, generated: false };
  const file = config.tokenFile || `${dataDir}/admin-token`;
  if (existsSync(file)) return { token: readSecretFile(file, 'admin token'), file, generated: false };
  if (config.tokenFile) readSecretFile(file, 'admin token');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { token, file, generated: true };
}

/** `Authorization: Bearer <token>`, compared in constant time. */
export function requireAdminToken(token: string): RequestHandler {
  return (req, _res, next) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
    if (!m?.[1] || !constantTimeEquals(m[1], token)) {
      next(new AdminUnauthorizedError());
      return;
    }
    next();
  };
}
