import type { Express } from 'express';

/**
 * Trust `X-Forwarded-For` only from the configured proxies (addresses or CIDRs). With none
 * configured, the socket address is the client address.
 */
export function configureTrustProxy(app: Express, proxies: readonly string[]): void {
  app.set('trust proxy', proxies.length > 0 ? [...proxies] : false);
}
