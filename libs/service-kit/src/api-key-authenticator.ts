import { verifyApiKeySecret, type ApiKeyRecord, type ApiKeyStore } from '@fleet/store';
import type { ApiKeyCredentials } from './api-key-header';
import { ApiKeyDisabledError, InvalidApiKeyError } from './errors';

export interface AuthenticatorOptions {
  /** How long a looked-up key is trusted before it is read again (bounds revocation lag across replicas). */
  ttlMs: number;
  /** Entries kept at most; the oldest are dropped first. */
  maxEntries: number;
}

interface Entry {
  record: ApiKeyRecord | undefined;
  expiresAt: number;
}

/**
 * Verifies API keys against the credential store, behind a bounded TTL cache. The cache holds the
 * stored hash, never the secret; every request is still verified in constant time.
 */
export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly store: ApiKeyStore,
    private readonly opts: AuthenticatorOptions,
  ) {}

  async authenticate(creds: ApiKeyCredentials): Promise<ApiKeyRecord> {
    const now = Date.now();
    let entry = this.cache.get(creds.id);
    if (!entry || entry.expiresAt <= now) {
      const record = await this.store.get(creds.id);
      entry = { record, expiresAt: now + this.opts.ttlMs };
      this.remember(creds.id, entry);
    }
    const record = entry.record;
    if (!record || !verifyApiKeySecret(creds.secret, record.hash)) throw new InvalidApiKeyError();
    if (record.invalidated) throw new ApiKeyDisabledError();
    return record;
  }

  /** Drops cached knowledge of keys (after they are invalidated or replaced). */
  forget(ids: Iterable<string>): void {
    for (const id of ids) this.cache.delete(id);
  }

  /** Caches a key that was just created, so the first request skips the store. */
  prime(record: ApiKeyRecord): void {
    this.remember(record.id, { record, expiresAt: Date.now() + this.opts.ttlMs });
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
