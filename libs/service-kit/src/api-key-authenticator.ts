import type { ApiKeyInfo, CredentialStore } from '@fleet/store';
import { hash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyCredentials } from './api-key-header';
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
  expiresAt: number;
}

/** One-shot SHA-256 (no Hash object per request: it is on every agent request's path). */
const digestOf = (secret: string): Buffer => hash('sha256', secret, 'buffer');

/**
 * Verifies API keys against the credential store (which may be Elasticsearch's `_authenticate`),
 * behind a bounded TTL cache. A cached key is still checked on every request, in constant time,
 * against the digest of the secret that was verified. Failed verifications are not cached.
 */
export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly credentials: CredentialStore,
    private readonly opts: AuthenticatorOptions,
  ) {}

  async authenticate(creds: ApiKeyCredentials): Promise<ApiKeyInfo> {
    const digest = digestOf(creds.secret);
    const cached = this.cache.get(creds.id);
    let info: ApiKeyInfo | undefined;
    if (cached && cached.expiresAt > Date.now() && timingSafeEqual(cached.digest, digest)) {
      info = cached.info;
    } else {
      info = await this.credentials.verify(creds.id, creds.secret);
      if (!info) throw new InvalidApiKeyError();
      this.remember(creds.id, { info, digest, expiresAt: Date.now() + this.opts.ttlMs });
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
    this.remember(info.id, { info, digest: digestOf(secret), expiresAt: Date.now() + this.opts.ttlMs });
  }

  private remember(id: string, entry: Entry): void {
    this.cache.delete(id);
    this.cache.set(id, entry);
    while (this.cache.size > this.opts.maxEntries) {
      const oldest = this.cache.keys().next();
      if (oldest.done) break;
      this.cache.delete(oldest.value);
    }
  }
}
