import type convict from 'convict';
import {
  authCacheSchema,
  baseServiceSchema,
  routeLimitSchema,
  type AuthCacheConfig,
  type BaseServiceConfig,
  type RouteLimitConfig,
} from '@fleet/service-kit';

export interface EnrollConfig {
  limit: RouteLimitConfig;
  pbkdf2: { iterations: number; keyLength: number; saltLength: number; concurrency: number; maxQueued: number };
}

export interface EnrollmentServiceConfig extends BaseServiceConfig {
  auth: AuthCacheConfig;
  enroll: EnrollConfig;
}

export const enrollSchema: convict.Schema<EnrollConfig> = {
  limit: routeLimitSchema('FLEET_ENROLL_LIMIT', { intervalMs: 1, burst: 1000, max: 200, maxBodyBytes: 512 * 1024 }),
  pbkdf2: {
    iterations: {
      doc: 'PBKDF2 iterations for replace-token hashes (at least 1000).',
      format: (v: unknown) => {
        if (!Number.isInteger(v) || (v as number) < 1000) throw new Error('must be an integer >= 1000');
      },
      default: 210_000,
      env: 'FLEET_PBKDF2_ITERATIONS',
    },
    keyLength: {
      doc: 'PBKDF2 derived key length in bytes (at least 14).',
      format: (v: unknown) => {
        if (!Number.isInteger(v) || (v as number) < 14) throw new Error('must be an integer >= 14');
      },
      default: 32,
      env: 'FLEET_PBKDF2_KEY_LENGTH',
    },
    saltLength: {
      doc: 'PBKDF2 salt length in bytes (at least 16).',
      format: (v: unknown) => {
        if (!Number.isInteger(v) || (v as number) < 16) throw new Error('must be an integer >= 16');
      },
      default: 64,
      env: 'FLEET_PBKDF2_SALT_LENGTH',
    },
    concurrency: {
      doc: "Replace-token hashes computed at once. Each takes one of libuv's 4 threadpool threads (shared with gzip and file I/O) for its whole run; more are queued.",
      format: (v: unknown) => {
        if (!Number.isInteger(v) || (v as number) < 1) throw new Error('must be an integer >= 1');
      },
      default: 1,
      env: 'FLEET_PBKDF2_CONCURRENCY',
    },
    maxQueued: {
      doc: 'Replace-token hashes waiting at most; past it, enrollments that need one are answered 429 with Retry-After.',
      format: 'nat',
      default: 32,
      env: 'FLEET_PBKDF2_MAX_QUEUED',
    },
  },
};

/** The enrollment service's schema (one per service). */
export const enrollmentServiceSchema: convict.Schema<EnrollmentServiceConfig> = {
  ...baseServiceSchema({ http: 8230, metrics: 9230 }),
  auth: authCacheSchema,
  enroll: enrollSchema,
};
