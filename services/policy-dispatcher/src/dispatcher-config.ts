import type convict from 'convict';
import {
  adminSchema,
  baseServiceSchema,
  presenceEnabledSetting,
  uploadsSchema,
  type AdminConfig,
  type UploadsConfig,
  type BaseServiceConfig,
} from '@fleet/service-kit';

export interface DispatchConfig {
  feedPollIntervalMs: number;
  actionSweepIntervalMs: number;
  retainExpiredActionsMs: number;
  inactiveSweepIntervalMs: number;
  inactiveSweepBatch: number;
  uploadSweepIntervalMs: number;
  statusSampleIntervalMs: number;
  consoleSessionTtlMs: number;
  rolloutIntervalMs: number;
  rolloutStreamMax: number;
  rolloutStreamMaxDurationMs: number;
  rolloutStreamKeepaliveMs: number;
}

export interface FleetDefaultsConfig {
  /** URLs agents use to reach Fleet Server (`fleet.hosts` of every policy). */
  publicUrls: string[];
  /** Hosts of the default Elasticsearch output written into policies. */
  outputHosts: string[];
  /** Days before a management-API action expires. */
  actionExpirationDays: number;
  /** Create a default policy and enrollment key on first start. */
  bootstrap: boolean;
}

/** URIs the management API may send to agents. */
export interface ActionUrisConfig {
  /** Prefixes an UPGRADE's `source_uri` must be under. */
  upgradeSource: string[];
  /** Prefixes a MIGRATE's `target_uri` must be under (empty: MIGRATE is refused). */
  migrateTarget: string[];
}

export interface PolicyDispatcherServiceConfig extends BaseServiceConfig {
  admin: AdminConfig;
  actionUris: ActionUrisConfig;
  dispatch: DispatchConfig;
  fleet: FleetDefaultsConfig;
  uploads: UploadsConfig;
  /** Keep the Fleet Server policy (see `presenceEnabledSetting`). */
  presence: { enabled: boolean };
}

export const dispatchSchema: convict.Schema<DispatchConfig> = {
  feedPollIntervalMs: {
    doc: 'How often the dispatcher reads the policy and action change feeds (local writes are seen at once).',
    format: 'nat',
    default: 1_000,
    env: 'FLEET_DISPATCH_FEED_POLL_INTERVAL_MS',
  },
  actionSweepIntervalMs: {
    doc: 'How often expired actions are garbage-collected (a repeatable background job; 0 turns it off).',
    format: 'nat',
    default: 3_600_000,
    env: 'FLEET_ACTION_SWEEP_INTERVAL_MS',
  },
  retainExpiredActionsMs: {
    doc: 'Expired actions are deleted once they expired this long ago (reference: 30 days).',
    format: 'nat',
    default: 30 * 86_400_000,
    env: 'FLEET_RETAIN_EXPIRED_ACTIONS_MS',
  },
  inactiveSweepIntervalMs: {
    doc: "How often agents silent for longer than their policy's unenroll_timeout are unenrolled (a repeatable background job; 0 turns it off).",
    format: 'nat',
    default: 60_000,
    env: 'FLEET_INACTIVE_SWEEP_INTERVAL_MS',
  },
  inactiveSweepBatch: {
    doc: 'Agents unenrolled per policy per sweep; the next sweep takes the rest.',
    format: 'nat',
    default: 500,
    env: 'FLEET_INACTIVE_SWEEP_BATCH',
  },
  uploadSweepIntervalMs: {
    doc: 'How often uploads abandoned past their expiry have their chunks deleted and are marked EXPIRED (a repeatable background job; 0 turns it off).',
    format: 'nat',
    default: 3_600_000,
    env: 'FLEET_UPLOAD_SWEEP_INTERVAL_MS',
  },
  statusSampleIntervalMs: {
    doc: 'How often agents are counted by status for the console\'s status history (a repeatable background job run by one replica; 24 h of samples are kept where every replica reads them: Redis with the Redis bus, memory otherwise; 0 turns it off).',
    format: 'nat',
    default: 60_000,
    env: 'FLEET_STATUS_SAMPLE_INTERVAL_MS',
  },
  consoleSessionTtlMs: {
    doc: 'How long a console session (the cookie a pasted token is exchanged for) lasts before the operator signs in again.',
    format: 'nat',
    default: 8 * 3_600_000,
    env: 'FLEET_CONSOLE_SESSION_TTL_MS',
  },
  rolloutIntervalMs: {
    doc: "How often the progress of a rollout watched in the console (policy revision or action) is computed again, once per rollout for all of a replica's streams.",
    format: 'nat',
    default: 1_000,
    env: 'FLEET_ROLLOUT_INTERVAL_MS',
  },
  rolloutStreamMax: {
    doc: 'Rollout progress streams (server-sent events) open per replica at most; past it, 429.',
    format: 'nat',
    default: 200,
    env: 'FLEET_ROLLOUT_STREAM_MAX',
  },
  rolloutStreamMaxDurationMs: {
    doc: 'A rollout progress stream ends after this long; the console reconnects.',
    format: 'nat',
    default: 600_000,
    env: 'FLEET_ROLLOUT_STREAM_MAX_DURATION_MS',
  },
  rolloutStreamKeepaliveMs: {
    doc: 'An idle rollout progress stream gets a keepalive comment this often, so proxies keep it open.',
    format: 'nat',
    default: 15_000,
    env: 'FLEET_ROLLOUT_STREAM_KEEPALIVE_MS',
  },
};

export const fleetDefaultsSchema: convict.Schema<FleetDefaultsConfig> = {
  publicUrls: {
    doc: 'Fleet Server URLs written into policies as fleet.hosts and printed in the enrollment command. Default: the all-in-one server itself, https://localhost:8220 (http:// with TLS off); a policy-dispatcher replica needs it set.',
    format: 'string-list',
    default: [],
    env: 'FLEET_PUBLIC_URLS',
  },
  outputHosts: {
    doc: 'Hosts of the default Elasticsearch output of new policies.',
    format: 'string-list',
    default: ['http://localhost:9200'],
    env: 'FLEET_OUTPUT_HOSTS',
  },
  actionExpirationDays: {
    doc: 'Days before an action created through the management API expires.',
    format: 'nat',
    default: 30,
    env: 'FLEET_ACTION_EXPIRATION_DAYS',
  },
  bootstrap: {
    doc: 'On first start, create a default agent policy and enrollment key.',
    format: Boolean,
    default: true,
    env: 'FLEET_BOOTSTRAP',
  },
};

export const actionUrisSchema: convict.Schema<ActionUrisConfig> = {
  upgradeSource: {
    doc: "URL prefixes an upgrade's source_uri must be under (scheme, host and port exactly, then a path prefix), comma-separated. Default: the Elastic artifacts URL agents download from by default.",
    format: 'string-list',
    default: ['https://artifacts.elastic.co/downloads/'],
    env: 'FLEET_UPGRADE_SOURCE_URI_ALLOW_LIST',
  },
  migrateTarget: {
    doc: "URL prefixes a MIGRATE action's target_uri must be under, comma-separated. Empty (the default): every MIGRATE is refused, since it moves agents to another Fleet Server.",
    format: 'string-list',
    default: [],
    env: 'FLEET_MIGRATE_TARGET_URI_ALLOW_LIST',
  },
};

/** The policy dispatcher's schema (one per service). */
export const policyDispatcherServiceSchema: convict.Schema<PolicyDispatcherServiceConfig> = {
  ...baseServiceSchema({ http: 8232, metrics: 9232 }),
  admin: adminSchema,
  actionUris: actionUrisSchema,
  dispatch: dispatchSchema,
  fleet: fleetDefaultsSchema,
  uploads: uploadsSchema,
  presence: { enabled: presenceEnabledSetting },
};
