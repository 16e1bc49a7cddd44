import type { ApiKeyInfo, CredentialStore } from '@fleet/store';
import { hash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyCredentials } from './api-key-header';
import { BoundedCache } from './bounded-cache';
import { ApiKeyDisabledError, InvalidApiKeyError } from './errors';

export interface AuthenticatorOptions {
  /** How long a verified key is trusted before it is verified again (bounds revocation lag across replicas). */
  ttlMs: number;
  /** Entries kept at most; the oldest are dropped first. */
  maxEntries: number;
}

interface Entry {
  info: ApiKeyInfo;
  /** SHA-256 of the secret that was verified: the cache never holds a secret. */
  digest: Buffer;
}

/** One-shot SHA-256 (no Hash object per request: it is on every agent request's path). */
const digestOf = (secret: string): Buffer => hash('sha256', secret, 'buffer');

/**
 * Verifies API keys against the credential store (which may be Elasticsearch's `_authenticate`),
 * behind a bounded TTL cache. A cached key is still checked on every request, in constant time,
 * against the digest of the secret that was verified. Failed verifications are not cached.
 */
export class ApiKeyAuthenticator {
  private readonly cache: BoundedCache<string, Entry>;

  constructor(
    private readonly credentials: CredentialStore,
    opts: AuthenticatorOptions,
  ) {
    this.cache = new BoundedCache({ maxEntries: opts.maxEntries, ttlMs: opts.ttlMs });
  }

  async authenticate(creds: ApiKeyCredentials): Promise<ApiKeyInfo> {
    const digest = digestOf(creds.secret);
    const cached = this.cache.get(creds.id);
    let info: ApiKeyInfo | undefined;
    if (cached && timingSafeEqual(cached.digest, digest)) {
      info = cached.info;
    } else {
      info = await this.credentials.verify(creds.id, creds.secret);
      if (!info) throw new InvalidApiKeyError();
      this.cache.set(creds.id, { info, digest });
    }
    if (info.invalidated) throw new ApiKeyDisabledError();
    return info;
  }

  /** Drops cached knowledge of keys (after they are invalidated or replaced). */
  forget(ids: Iterable<string>): void {
    for (const id of ids) this.cache.delete(id);
  }

  /** Caches a key that was just issued, so its first request skips the store. */
  prime(info: ApiKeyInfo, secret: string): void {
    this.cache.set(info.id, { info, digest: digestOf(secret) });
  }
}
