import type convict from 'convict';

export interface ArtifactConfig {
  cacheTtlMs: number;
  cacheMaxBytes: number;
  maxParallelFetches: number;
}

export interface PgpConfig {
  keyFile: string;
}

/** Settings of the artifact, file-delivery and PGP-key routes (their limits are in `limits`). */
export interface DeliveryConfig {
  artifacts: ArtifactConfig;
  pgp: PgpConfig;
}

export const deliverySchema: convict.Schema<DeliveryConfig> = {
  artifacts: {
    cacheTtlMs: {
      doc: 'How long a verified artifact stays in the in-memory cache (reference ttl_artifact: 24 h).',
      format: 'nat',
      default: 24 * 3600_000,
      env: 'FLEET_ARTIFACT_CACHE_TTL_MS',
    },
    cacheMaxBytes: {
      doc: 'Bytes of artifacts the in-memory cache holds at most (least recently used dropped first; 0 disables the cache).',
      format: 'nat',
      default: 50 * 1024 * 1024,
      env: 'FLEET_ARTIFACT_CACHE_MAX_BYTES',
    },
    maxParallelFetches: {
      doc: 'Artifact reads from the store in flight at most, one per artifact (concurrent requests for it share it); past it, 429 TooManyRequests (0: unlimited).',
      format: 'nat',
      default: 8,
      env: 'FLEET_ARTIFACT_MAX_PARALLEL_FETCHES',
    },
  },
  pgp: {
    keyFile: {
      doc: 'PGP key served to upgrading agents; must have mode 0600. Empty: default.pgp in the data directory (next to the SQLite file).',
      format: String,
      default: '',
      env: 'FLEET_PGP_KEY_FILE',
    },
  },
};
