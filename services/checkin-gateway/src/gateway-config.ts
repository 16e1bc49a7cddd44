import type convict from 'convict';
import {
  authCacheSchema,
  baseServiceSchema,
  presenceEnabledSetting,
  routeLimitSchema,
  uploadsSchema,
  type AuthCacheConfig,
  type UploadsConfig,
  type BaseServiceConfig,
  type RouteLimitConfig,
} from '@fleet/service-kit';
import { deliverySchema, type DeliveryConfig } from './delivery-config';

export interface CheckinConfig {
  longPollMs: number;
  minPollMs: number;
  maxPollMs: number;
  jitterMs: number;
  timestampIntervalMs: number;
  pendingActionsLimit: number;
  compressionLevel: number;
  compressionThresholdBytes: number;
  maxDecompressedBodyBytes: number;
}

export interface StatusWriteConfig {
  flushIntervalMs: number;
  maxPending: number;
}

export interface GatewayLimits {
  checkin: RouteLimitConfig;
  ack: RouteLimitConfig;
  status: RouteLimitConfig;
  auditUnenroll: RouteLimitConfig;
  artifact: RouteLimitConfig;
  fileDelivery: RouteLimitConfig;
  pgpRetrieval: RouteLimitConfig;
  uploadStart: RouteLimitConfig;
  uploadChunk: RouteLimitConfig;
  uploadEnd: RouteLimitConfig;
}

/** Fleet Server's own presence (server-presence.ts, docs/fleet-server-presence.md). */
export interface PresenceConfig {
  enabled: boolean;
  heartbeatIntervalMs: number;
  legacyIntervalMs: number;
  cleanupAfterMs: number;
  cleanupBatch: number;
}

/** `remote_elasticsearch` outputs (remote-output-monitor.ts, docs/remote-outputs.md). */
export interface RemoteOutputsConfig {
  pingIntervalMs: number;
  maxClients: number;
  idleMs: number;
  requestTimeoutMs: number;
}

export interface GatewayConfig extends DeliveryConfig {
  presence: PresenceConfig;
  remoteOutputs: RemoteOutputsConfig;
  checkin: CheckinConfig;
  statusWrites: StatusWriteConfig;
  feedPollIntervalMs: number;
  limits: GatewayLimits;
  uploads: UploadsConfig;
}

export interface CheckinGatewayServiceConfig extends GatewayConfig, BaseServiceConfig {
  auth: AuthCacheConfig;
}

export const gatewaySchema: convict.Schema<GatewayConfig> = {
  checkin: {
    longPollMs: {
      doc: 'Long-poll duration when the agent sends no poll_timeout (reference: 5 m).',
      format: 'nat',
      default: 300_000,
      env: 'FLEET_CHECKIN_LONG_POLL_MS',
    },
    minPollMs: { doc: 'Shortest long poll granted from an agent poll_timeout.', format: 'nat', default: 60_000, env: 'FLEET_CHECKIN_MIN_POLL_MS' },
    maxPollMs: { doc: 'Longest long poll granted (reference checkin_max_poll: 1 h).', format: 'nat', default: 3_600_000, env: 'FLEET_CHECKIN_MAX_POLL_MS' },
    jitterMs: { doc: 'Up to this much is taken off each long poll, spreading reconnects.', format: 'nat', default: 30_000, env: 'FLEET_CHECKIN_JITTER_MS' },
    timestampIntervalMs: {
      doc: 'During a long poll, last_checkin is refreshed this often (through the batched writer).',
      format: 'nat',
      default: 30_000,
      env: 'FLEET_CHECKIN_TIMESTAMP_INTERVAL_MS',
    },
    pendingActionsLimit: { doc: 'Actions returned by one checkin at most.', format: 'nat', default: 100, env: 'FLEET_CHECKIN_PENDING_ACTIONS_LIMIT' },
    compressionLevel: { doc: 'gzip level of checkin responses (0 disables).', format: 'nat', default: 1, env: 'FLEET_CHECKIN_COMPRESSION_LEVEL' },
    compressionThresholdBytes: {
      doc: 'Checkin responses larger than this are gzipped when the agent accepts gzip.',
      format: 'nat',
      default: 1024,
      env: 'FLEET_CHECKIN_COMPRESSION_THRESHOLD_BYTES',
    },
    maxDecompressedBodyBytes: {
      doc: 'Largest checkin body after gzip decoding.',
      format: 'nat',
      default: 20 * 1024 * 1024,
      env: 'FLEET_CHECKIN_MAX_DECOMPRESSED_BODY_BYTES',
    },
  },
  statusWrites: {
    flushIntervalMs: {
      doc: 'Checkin status writes are coalesced per agent and flushed in one batch this often.',
      format: 'nat',
      default: 2_000,
      env: 'FLEET_STATUS_FLUSH_INTERVAL_MS',
    },
    maxPending: {
      doc: 'Agents with an unflushed status at most; past it, checkins get 429 + Retry-After.',
      format: 'nat',
      default: 500_000,
      env: 'FLEET_STATUS_MAX_PENDING',
    },
  },
  feedPollIntervalMs: {
    doc: 'How often the gateway reads the policy and action change feeds itself (the safety net under notifications).',
    format: 'nat',
    default: 2_000,
    env: 'FLEET_FEED_POLL_INTERVAL_MS',
  },
  limits: {
    checkin: routeLimitSchema('FLEET_CHECKIN_LIMIT', { intervalMs: 1, burst: 1000, max: 0, maxBodyBytes: 1024 * 1024 }),
    ack: routeLimitSchema('FLEET_ACK_LIMIT', { intervalMs: 1, burst: 1000, max: 500, maxBodyBytes: 2 * 1024 * 1024 }),
    status: routeLimitSchema('FLEET_STATUS_LIMIT', { intervalMs: 5, burst: 25, max: 50, maxBodyBytes: 0 }),
    auditUnenroll: routeLimitSchema('FLEET_AUDIT_UNENROLL_LIMIT', { intervalMs: 10, burst: 50, max: 100, maxBodyBytes: 1024 }),
    artifact: routeLimitSchema('FLEET_ARTIFACT_LIMIT', { intervalMs: 5, burst: 25, max: 50, maxBodyBytes: 0 }),
    fileDelivery: routeLimitSchema('FLEET_FILE_DELIVERY_LIMIT', { intervalMs: 100, burst: 5, max: 10, maxBodyBytes: 0 }),
    pgpRetrieval: routeLimitSchema('FLEET_PGP_RETRIEVAL_LIMIT', { intervalMs: 5, burst: 25, max: 50, maxBodyBytes: 0 }),
    uploadStart: routeLimitSchema('FLEET_UPLOAD_START_LIMIT', { intervalMs: 2000, burst: 5, max: 10, maxBodyBytes: 5 * 1024 * 1024 }),
    // A chunk body is never more than 4 MiB, whatever maxBodyBytes says (the protocol's chunk size).
    uploadChunk: routeLimitSchema('FLEET_UPLOAD_CHUNK_LIMIT', { intervalMs: 3, burst: 5, max: 10, maxBodyBytes: 4 * 1024 * 1024 }),
    uploadEnd: routeLimitSchema('FLEET_UPLOAD_END_LIMIT', { intervalMs: 2000, burst: 5, max: 10, maxBodyBytes: 1024 }),
  },
  uploads: uploadsSchema,
  remoteOutputs: {
    pingIntervalMs: {
      doc: 'How often each replica checks every remote Elasticsearch output its agents use (authenticates with its service token) and writes an output health document when the state changes. 0: never.',
      format: 'nat',
      default: 60_000,
      env: 'FLEET_REMOTE_OUTPUTS_PING_INTERVAL_MS',
    },
    maxClients: {
      doc: 'Remote Elasticsearch clients kept open at most (one per output configuration; the least recently used is closed first).',
      format: 'nat',
      default: 64,
      env: 'FLEET_REMOTE_OUTPUTS_MAX_CLIENTS',
    },
    idleMs: {
      doc: 'A remote output no agent delivery has used for this long is no longer pinged, and its client is closed.',
      format: 'nat',
      default: 900_000,
      env: 'FLEET_REMOTE_OUTPUTS_IDLE_MS',
    },
    requestTimeoutMs: {
      doc: 'Timeout of each request of the gateway to a remote Elasticsearch output (key creation, role update, ping). The revocation jobs use 10 s.',
      format: 'nat',
      default: 10_000,
      env: 'FLEET_REMOTE_OUTPUTS_REQUEST_TIMEOUT_MS',
    },
  },
  presence: {
    enabled: presenceEnabledSetting,
    heartbeatIntervalMs: {
      doc: "How often each replica checks in as a Fleet Server agent (last_checkin, status, components). Kibana shows an agent offline 5 min after its last check-in.",
      format: 'nat',
      default: 30_000,
      env: 'FLEET_PRESENCE_HEARTBEAT_INTERVAL_MS',
    },
    legacyIntervalMs: {
      doc: 'How often each replica refreshes its .fleet-servers document (the reference: every 5 min), and removes silent replicas.',
      format: 'nat',
      default: 300_000,
      env: 'FLEET_PRESENCE_LEGACY_INTERVAL_MS',
    },
    cleanupAfterMs: {
      doc: "A replica silent this long is gone: its Fleet Server agent and .fleet-servers documents are deleted by the other replicas. Until then Kibana shows it offline.",
      format: 'nat',
      default: 3_600_000,
      env: 'FLEET_PRESENCE_CLEANUP_AFTER_MS',
    },
    cleanupBatch: {
      doc: 'Documents of silent replicas deleted per pass at most (each kind).',
      format: 'nat',
      default: 100,
      env: 'FLEET_PRESENCE_CLEANUP_BATCH',
    },
  },
  ...deliverySchema,
};

/** The checkin gateway's schema (one per service). */
export const checkinGatewayServiceSchema: convict.Schema<CheckinGatewayServiceConfig> = {
  ...baseServiceSchema({ http: 8231, metrics: 9231 }),
  auth: authCacheSchema,
  ...gatewaySchema,
};
