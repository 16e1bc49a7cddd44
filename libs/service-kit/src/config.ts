import { DEFAULT_REVOCATION_SEARCH_REVISIONS, MAX_REVOCATION_SEARCH_REVISIONS } from '@fleet/store';
import { tracingSchema, type TracingConfig } from '@fleet/telemetry';
import convict from 'convict';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

convict.addParser({ extension: ['yml', 'yaml'], parse: parseYaml });
convict.addFormat({
  name: 'string-list',
  validate(value: unknown) {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw new Error('must be a list of strings');
    }
  },
  coerce: (value: unknown) =>
    typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value,
});

/** Thrown for any invalid configuration; the message names every offending key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LogConfig {
  level: string;
}
export interface HttpConfig {
  host: string;
  port: number;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  listenBacklog: number;
  maxConnections: number;
  trustProxy: string[];
  drainTimeoutMs: number;
  tls: ListenerTlsConfig;
}

/** The agent-facing listener's TLS (elastic/fleet-server's `server.ssl`). */
export interface ListenerTlsConfig {
  mode: 'auto' | 'files' | 'off';
  certFile: string;
  keyFile: string;
  keyPassphraseFile: string;
  chainFile: string;
  clientAuth: 'none' | 'optional' | 'required';
  clientCaFile: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  ciphers: string;
  reloadIntervalMs: number;
}

/**
 * TLS 1.2 suites: ECDHE key exchange and AEAD ciphers only (forward secrecy, no CBC, no RSA key
 * transport), the set Go's crypto/tls, and so Elastic Agent, prefers. TLS 1.3 suites are all
 * AEAD and stay OpenSSL's defaults.
 */
export const MODERN_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const listenerTlsSchema: convict.Schema<ListenerTlsConfig> = {
  mode: {
    doc: 'HTTPS on the agent listener. auto: the certificate files when certFile is set; otherwise the all-in-one process creates a private CA and a server certificate in its data directory (tls/), and a standalone service refuses to start. files: certFile and keyFile are required. off: plain HTTP, for replicas behind a balancer that terminates TLS.',
    format: ['auto', 'files', 'off'],
    default: 'auto',
    env: 'FLEET_TLS_MODE',
  },
  certFile: { doc: 'Server certificate (PEM), leaf first; it may carry the intermediates.', format: String, default: '', env: 'FLEET_TLS_CERT_FILE' },
  keyFile: { doc: "The certificate's private key (PEM; PKCS#8, PKCS#1 or SEC1, optionally encrypted).", format: String, default: '', env: 'FLEET_TLS_KEY_FILE' },
  keyPassphraseFile: { doc: 'File holding the passphrase of an encrypted key.', format: String, default: '', env: 'FLEET_TLS_KEY_PASSPHRASE_FILE' },
  chainFile: { doc: 'Intermediate certificates (PEM) sent after the server certificate.', format: String, default: '', env: 'FLEET_TLS_CHAIN_FILE' },
  clientAuth: {
    doc: "Client certificates (the reference's ssl.client_authentication): none; optional (a certificate, when given, must verify against clientCaFile); required (the handshake fails without one).",
    format: ['none', 'optional', 'required'],
    default: 'none',
    env: 'FLEET_TLS_CLIENT_AUTH',
  },
  clientCaFile: { doc: 'CA certificates (PEM) that client certificates must chain to.', format: String, default: '', env: 'FLEET_TLS_CLIENT_CA_FILE' },
  minVersion: { doc: 'Oldest TLS version accepted.', format: ['TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2', env: 'FLEET_TLS_MIN_VERSION' },
  ciphers: { doc: 'TLS 1.2 cipher suites (OpenSSL names, colon-separated).', format: String, default: MODERN_TLS12_CIPHERS, env: 'FLEET_TLS_CIPHERS' },
  reloadIntervalMs: {
    doc: 'How often the certificate, key, chain and client CA files are read again; a change is used for new connections, open ones keep theirs (0: never).',
    format: 'nat',
    default: 5_000,
    env: 'FLEET_TLS_RELOAD_INTERVAL_MS',
  },
};
export interface ElasticsearchConfig {
  hosts: string[];
  serviceToken: string;
  serviceTokenFile: string;
  username: string;
  password: string;
  passwordFile: string;
  requestTimeoutMs: number;
  credentials: 'auto' | 'elasticsearch' | 'builtin';
  bulkFlushIntervalMs: number;
  bulkMaxPendingOps: number;
  ssl: ElasticsearchSslConfig;
}

/**
 * How a TLS peer (Elasticsearch, Redis) is verified: `full` checks the chain and the host name,
 * `certificate` only the chain, `none` nothing (explicit only; logged as a warning at start).
 */
export type TlsVerificationMode = 'full' | 'certificate' | 'none';
export const TLS_VERIFICATION_MODES: readonly TlsVerificationMode[] = ['full', 'certificate', 'none'];

/** TLS towards Elasticsearch, named after Elastic's `ssl.*` output settings. */
export interface ElasticsearchSslConfig {
  certificateAuthorities: string[];
  certificate: string;
  key: string;
  keyPassphraseFile: string;
  verificationMode: TlsVerificationMode;
  caTrustedFingerprint: string;
}

/** TLS towards Redis (used with `rediss://` URLs), for the notification bus and BullMQ. */
export interface RedisTlsConfig {
  caFile: string;
  certFile: string;
  keyFile: string;
  keyPassphraseFile: string;
  verificationMode: TlsVerificationMode;
}

/**
 * With built-in credentials: the Elasticsearch cluster where per-agent output API keys are made
 * (libs/store/src/output-key-cluster.ts).
 */
export interface OutputKeysConfig {
  hosts: string[];
  serviceTokenFile: string;
  ssl: { certificateAuthorities: string[]; verificationMode: TlsVerificationMode };
}

export interface StoreConfig {
  backend: 'sqlite' | 'elasticsearch';
  outputKeys: OutputKeysConfig;
  sqlite: { path: string; synchronous: 'FULL' | 'NORMAL'; minFreeBytes: number; secretsKeyFile: string; secretsPreviousKeyFile: string };
  actionSecretsKeyFile: string;
  elasticsearch: ElasticsearchConfig;
}
export interface AdminConfig {
  token: string;
  tokenFile: string;
}

export const logSchema: convict.Schema<LogConfig> = {
  level: {
    doc: 'Log level (fatal, error, warn, info, debug, trace, silent).',
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    env: 'FLEET_LOG_LEVEL',
  },
};

export function httpSchema(defaultPort: number): convict.Schema<HttpConfig> {
  return {
    host: { doc: 'Address to listen on.', format: String, default: '0.0.0.0', env: 'FLEET_HTTP_HOST' },
    port: { doc: 'Port to listen on (0 picks a free one).', format: 'port', default: defaultPort, env: 'FLEET_HTTP_PORT' },
    requestTimeoutMs: {
      doc: "Node's requestTimeout: time allowed to receive a whole request (not to answer it; long polls are unaffected).",
      format: 'nat',
      default: 60_000,
      env: 'FLEET_HTTP_REQUEST_TIMEOUT_MS',
    },
    headersTimeoutMs: {
      doc: "Node's headersTimeout: time allowed to receive the request headers (slowloris guard).",
      format: 'nat',
      default: 10_000,
      env: 'FLEET_HTTP_HEADERS_TIMEOUT_MS',
    },
    keepAliveTimeoutMs: {
      doc: "Node's keepAliveTimeout: idle time before a kept-alive socket is closed. Keep it above the load balancer's idle timeout.",
      format: 'nat',
      default: 35_000,
      env: 'FLEET_HTTP_KEEPALIVE_TIMEOUT_MS',
    },
    listenBacklog: {
      doc: "Connections the kernel queues before the server accepts them (capped by net.core.somaxconn). Node's default, 511, overflows when thousands of agents reconnect at once.",
      format: 'nat',
      default: 4096,
      env: 'FLEET_HTTP_LISTEN_BACKLOG',
    },
    maxConnections: {
      doc: 'Hard cap on open sockets (0: unlimited). A socket over the cap gets one answer, 429 with Retry-After: 1 and Connection: close, and is closed.',
      format: 'nat',
      default: 0,
      env: 'FLEET_HTTP_MAX_CONNECTIONS',
    },
    trustProxy: {
      doc: 'Addresses or CIDRs of proxies whose X-Forwarded-For is trusted (empty: trust none).',
      format: 'string-list',
      default: [],
      env: 'FLEET_HTTP_TRUST_PROXY',
    },
    drainTimeoutMs: {
      doc: 'On SIGTERM, how long to wait for in-flight requests after open long polls are answered.',
      format: 'nat',
      default: 10_000,
      env: 'FLEET_HTTP_DRAIN_TIMEOUT_MS',
    },
    tls: listenerTlsSchema,
  };
}

export const storeSchema: convict.Schema<StoreConfig> = {
  backend: {
    doc: 'Store backend: the embedded SQLite file, or the .fleet-* indices of Elasticsearch.',
    format: ['sqlite', 'elasticsearch'],
    default: 'sqlite',
    env: 'FLEET_STORE_BACKEND',
  },
  sqlite: {
    path: {
      doc: 'Embedded store file (SQLite, WAL mode).',
      format: String,
      default: './data/fleet.db',
      env: 'FLEET_SQLITE_PATH',
    },
    synchronous: {
      doc: 'SQLite synchronous mode: NORMAL survives process crashes, FULL also survives power loss.',
      format: ['NORMAL', 'FULL'],
      default: 'NORMAL',
      env: 'FLEET_SQLITE_SYNCHRONOUS',
    },
    minFreeBytes: {
      doc: "Free space the store's file system must keep: below it the server is not ready (/readyz, /api/status 503), as on a full disk.",
      format: 'nat',
      default: 32 * 1024 * 1024,
      env: 'FLEET_SQLITE_MIN_FREE_BYTES',
    },
    secretsKeyFile: {
      doc: 'Key that seals policy secrets in the SQLite file (AES-256-GCM): created (0600) when missing. Default: secrets.key beside the SQLite file. See docs/secrets.md.',
      format: String,
      default: '',
      env: 'FLEET_SQLITE_SECRETS_KEY_FILE',
    },
    secretsPreviousKeyFile: {
      doc: 'Key rotation: the previous secrets key. At start, every secret it sealed is re-encrypted with secretsKeyFile; remove it once the log reports none left. See docs/secrets.md.',
      format: String,
      default: '',
      env: 'FLEET_SQLITE_SECRETS_PREVIOUS_KEY_FILE',
    },
  },
  outputKeys: {
    hosts: {
      doc: 'With built-in credentials (the SQLite store, or Elasticsearch without security): URLs of the Elasticsearch cluster where each agent gets its own API key for the elasticsearch outputs that point at it (a host in common), as with Elasticsearch credentials. Other outputs are delivered with the credentials written in them. Needs serviceTokenFile. See docs/architecture.md#per-agent-output-api-keys.',
      format: 'string-list',
      default: [],
      env: 'FLEET_OUTPUT_KEYS_HOSTS',
    },
    serviceTokenFile: {
      doc: "File holding a service token of that cluster's elastic/fleet-server service account, with which the keys are made, updated and revoked.",
      format: String,
      default: '',
      env: 'FLEET_OUTPUT_KEYS_SERVICE_TOKEN_FILE',
    },
    ssl: {
      certificateAuthorities: {
        doc: 'PEM files (comma-separated) of the CAs that sign the https certificates of the output key cluster. Empty: the system CAs.',
        format: 'string-list',
        default: [],
        env: 'FLEET_OUTPUT_KEYS_SSL_CA_FILE',
      },
      verificationMode: {
        doc: "How the output key cluster's certificate is checked: full, certificate (chain only) or none (logged as a warning).",
        format: TLS_VERIFICATION_MODES as TlsVerificationMode[],
        default: 'full',
        env: 'FLEET_OUTPUT_KEYS_SSL_VERIFICATION_MODE',
      },
    },
  },
  actionSecretsKeyFile: {
    doc: "Key that seals action secrets at rest (MIGRATE's enrollment token, PRIVILEGE_LEVEL_CHANGE's password): created (0600) when missing. Default: action-secrets.key beside the SQLite file. Replicas sharing an Elasticsearch store must all be given the same file.",
    format: String,
    default: '',
    env: 'FLEET_ACTION_SECRETS_KEY_FILE',
  },
  elasticsearch: {
    hosts: {
      doc: 'Elasticsearch URLs (comma-separated).',
      format: 'string-list',
      default: ['http://localhost:9200'],
      env: 'FLEET_ES_HOSTS',
    },
    serviceToken: {
      doc: 'Service token of the elastic/fleet-server service account (sent as Bearer).',
      format: String,
      default: '',
      env: 'FLEET_ES_SERVICE_TOKEN',
      sensitive: true,
    },
    serviceTokenFile: {
      doc: 'File holding the service token (used when serviceToken is empty).',
      format: String,
      default: '',
      env: 'FLEET_ES_SERVICE_TOKEN_FILE',
    },
    username: { doc: 'Basic-auth user, when no service token is given.', format: String, default: '', env: 'FLEET_ES_USERNAME' },
    password: { doc: 'Basic-auth password.', format: String, default: '', env: 'FLEET_ES_PASSWORD', sensitive: true },
    passwordFile: { doc: 'File holding the basic-auth password.', format: String, default: '', env: 'FLEET_ES_PASSWORD_FILE' },
    requestTimeoutMs: { doc: 'Timeout of one Elasticsearch request.', format: 'nat', default: 30_000, env: 'FLEET_ES_REQUEST_TIMEOUT_MS' },
    credentials: {
      doc: 'Agent API keys: Elasticsearch API keys (needs security), a built-in hashed store, or auto (the first when security is on).',
      format: ['auto', 'elasticsearch', 'builtin'],
      default: 'auto',
      env: 'FLEET_ES_CREDENTIALS',
    },
    bulkFlushIntervalMs: {
      doc: 'Writes from concurrent requests are grouped into one _bulk at most this long after the first.',
      format: 'nat',
      default: 250,
      env: 'FLEET_ES_BULK_FLUSH_INTERVAL_MS',
    },
    bulkMaxPendingOps: {
      doc: 'Writes waiting for Elasticsearch at most; past it, requests get 429 + Retry-After.',
      format: 'nat',
      default: 100_000,
      env: 'FLEET_ES_BULK_MAX_PENDING_OPS',
    },
    ssl: {
      certificateAuthorities: {
        doc: 'PEM files (comma-separated; each may hold several certificates) of the CAs that sign the https Elasticsearch certificates. Empty: the system CAs.',
        format: 'string-list',
        default: [],
        env: 'FLEET_ES_SSL_CA_FILE',
      },
      certificate: {
        doc: 'Client certificate (PEM) presented to Elasticsearch, for client_authentication or a PKI realm.',
        format: String,
        default: '',
        env: 'FLEET_ES_SSL_CERT_FILE',
      },
      key: { doc: 'Private key (PEM) of the client certificate.', format: String, default: '', env: 'FLEET_ES_SSL_KEY_FILE' },
      keyPassphraseFile: {
        doc: 'File holding the passphrase of an encrypted client key.',
        format: String,
        default: '',
        env: 'FLEET_ES_SSL_KEY_PASSPHRASE_FILE',
      },
      verificationMode: {
        doc: 'How the Elasticsearch certificate is checked: full (chain and host name), certificate (chain only) or none (nothing; logged as a warning).',
        format: TLS_VERIFICATION_MODES as TlsVerificationMode[],
        default: 'full',
        env: 'FLEET_ES_SSL_VERIFICATION_MODE',
      },
      caTrustedFingerprint: {
        doc: 'Hex SHA-256 fingerprint of a CA certificate in the chain Elasticsearch presents: that CA is trusted too (fetched once at start, as Elastic Agent\'s ssl.ca_trusted_fingerprint).',
        format: String,
        default: '',
        env: 'FLEET_ES_SSL_CA_TRUSTED_FINGERPRINT',
      },
    },
  },
};

/**
 * Whether the server shows itself to Kibana as a Fleet Server (docs/fleet-server-presence.md): the
 * policy dispatcher keeps the Fleet Server policy, and each replica serving the agent API checks in
 * on it. One setting, the same in every service that reads it.
 */
export const presenceEnabledSetting: convict.SchemaObj<boolean> = {
  doc: "Show this server to Kibana as a Fleet Server: keep the Fleet Server agent policy, and check each replica in on it as an agent (with .fleet-servers heartbeats for older Kibana). Kibana's agent list then shows one agent per replica.",
  format: Boolean,
  default: true,
  env: 'FLEET_PRESENCE_ENABLED',
};

export const adminSchema: convict.Schema<AdminConfig> = {
  token: {
    doc: 'Bearer token of the management API. Empty: read tokenFile, else generate one into the data directory.',
    format: String,
    default: '',
    env: 'FLEET_ADMIN_TOKEN',
    sensitive: true,
  },
  tokenFile: {
    doc: 'File holding the management API token (created with mode 0600 when generated).',
    format: String,
    default: '',
    env: 'FLEET_ADMIN_TOKEN_FILE',
  },
};

export interface LoadOptions {
  /** Config files to load, in order (JSON or YAML). Default: $FLEET_CONFIG_FILE, comma-separated. */
  files?: string[];
  env?: NodeJS.ProcessEnv;
  /** Explicit overrides (tests). */
  overrides?: Record<string, unknown>;
}

/**
 * Loads a service's config: schema defaults, then files, then explicit overrides, with environment
 * variables winning over both (convict applies them last); then a strict validation (unknown keys in
 * files are errors). Returns a frozen plain object.
 */
export function loadConfig<T>(schema: convict.Schema<T>, opts: LoadOptions = {}): Readonly<T> {
  const env = opts.env ?? process.env;
  try {
    const config = convict<T>(schema, { env, args: [] });
    const files = opts.files ?? (env.FLEET_CONFIG_FILE ? env.FLEET_CONFIG_FILE.split(',') : []);
    for (const file of files) config.loadFile(file.trim());
    if (opts.overrides) config.load(opts.overrides);
    config.validate({ allowed: 'strict' });
    return deepFreeze(config.getProperties());
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * Reads a file a setting names (a secret, a certificate, a key): a ConfigError naming `what` and
 * the path when it is missing, unreadable or empty.
 */
export function readConfiguredFile(path: string, what: string): Buffer {
  try {
    const bytes = readFileSync(path);
    if (bytes.toString('utf8').trim().length === 0) throw new Error('file is empty');
    return bytes;
  } catch (err) {
    throw new ConfigError(`cannot read ${what} from ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Reads a secret from a file, trimming surrounding whitespace (a trailing newline). */
export function readSecretFile(path: string, what: string): string {
  return readConfiguredFile(path, what).toString('utf8').trim();
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export interface RouteLimitConfig {
  intervalMs: number;
  burst: number;
  max: number;
  maxBodyBytes: number;
}

/** Per-route limiter settings (elastic/fleet-server's `server.limits.<route>_limit`). */
export function routeLimitSchema(envPrefix: string, d: RouteLimitConfig): convict.Schema<RouteLimitConfig> {
  return {
    intervalMs: {
      doc: 'Token refill interval in ms (0 disables the rate limit).',
      format: Number,
      default: d.intervalMs,
      env: `${envPrefix}_INTERVAL_MS`,
    },
    burst: { doc: 'Token bucket size.', format: 'nat', default: d.burst, env: `${envPrefix}_BURST` },
    max: { doc: 'Concurrent requests (0: unlimited).', format: 'nat', default: d.max, env: `${envPrefix}_MAX` },
    maxBodyBytes: { doc: 'Largest request body accepted.', format: 'nat', default: d.maxBodyBytes, env: `${envPrefix}_MAX_BODY_BYTES` },
  };
}

export interface UploadsConfig {
  maxFileStorageBytes: number;
  expiryMs: number;
}

/** Files uploaded by agents (diagnostics bundles): read by the gateways and the cleanup job. */
export const uploadsSchema: convict.Schema<UploadsConfig> = {
  maxFileStorageBytes: {
    doc: 'Largest file an agent may upload (reference max_file_storage_size): -1 no limit (the reference default), 0 refuses uploads (403).',
    format: 'int',
    default: -1,
    env: 'FLEET_UPLOAD_MAX_FILE_STORAGE_BYTES',
  },
  expiryMs: {
    doc: 'An upload not finished this long after it began takes no more chunks; the cleanup job deletes its chunks and marks it EXPIRED (reference: 24 h).',
    format: 'nat',
    default: 86_400_000,
    env: 'FLEET_UPLOAD_EXPIRY_MS',
  },
};

export interface AuthCacheConfig {
  ttlMs: number;
  maxEntries: number;
}

export const authCacheSchema: convict.Schema<AuthCacheConfig> = {
  ttlMs: {
    doc: 'How long a verified API key is trusted: cached for requests, and how often a held long poll is verified again. Bounds how late a replica notices a revocation no notification announced.',
    format: 'nat',
    default: 60_000,
    env: 'FLEET_AUTH_CACHE_TTL_MS',
  },
  maxEntries: { doc: 'Cached API keys at most.', format: 'nat', default: 200_000, env: 'FLEET_AUTH_CACHE_MAX_ENTRIES' },
};

export interface ServerIdentityConfig {
  version: string;
  replicaId: string;
}

export const serverIdentitySchema: convict.Schema<ServerIdentityConfig> = {
  version: {
    doc: 'Fleet Server version this server presents; agents newer than its major.minor are refused.',
    format: String,
    default: '9.6.0',
    env: 'FLEET_SERVER_VERSION',
  },
  replicaId: {
    doc: 'Name of this replica, sent in the X-Fleet-Replica header (default: hostname and pid).',
    format: String,
    default: '',
    env: 'FLEET_REPLICA_ID',
  },
};

export interface BusConfig {
  backend: 'inprocess' | 'redis';
  redisUrl: string;
  channel: string;
  policyDebounceMs: number;
  redisTls: RedisTlsConfig;
}

export const busSchema: convict.Schema<BusConfig> = {
  backend: {
    doc: 'How replicas learn of changes: in-process (one process) or Redis pub/sub (several replicas).',
    format: ['inprocess', 'redis'],
    default: 'inprocess',
    env: 'FLEET_BUS_BACKEND',
  },
  redisUrl: { doc: 'Redis URL of the notification bus and the job queue: redis://, or rediss:// for TLS (see bus.redisTls).', format: String, default: 'redis://127.0.0.1:6379', env: 'FLEET_REDIS_URL', sensitive: true },
  channel: { doc: 'Redis pub/sub channel of the notifications.', format: String, default: 'fleet:notifications', env: 'FLEET_BUS_CHANNEL' },
  policyDebounceMs: {
    doc: 'Revisions of one policy published within this window are announced once, as the newest.',
    format: 'nat',
    default: 100,
    env: 'FLEET_BUS_POLICY_DEBOUNCE_MS',
  },
  redisTls: {
    caFile: {
      doc: 'PEM file (may hold several certificates) of the CAs that sign the Redis certificate, for rediss:// URLs (bus and BullMQ). Empty: the system CAs.',
      format: String,
      default: '',
      env: 'FLEET_REDIS_TLS_CA_FILE',
    },
    certFile: { doc: 'Client certificate (PEM) presented to Redis (tls-auth-clients).', format: String, default: '', env: 'FLEET_REDIS_TLS_CERT_FILE' },
    keyFile: { doc: 'Private key (PEM) of the Redis client certificate.', format: String, default: '', env: 'FLEET_REDIS_TLS_KEY_FILE' },
    keyPassphraseFile: {
      doc: 'File holding the passphrase of an encrypted Redis client key.',
      format: String,
      default: '',
      env: 'FLEET_REDIS_TLS_KEY_PASSPHRASE_FILE',
    },
    verificationMode: {
      doc: 'How the Redis certificate is checked: full (chain and host name), certificate (chain only) or none (nothing; logged as a warning).',
      format: TLS_VERIFICATION_MODES as TlsVerificationMode[],
      default: 'full',
      env: 'FLEET_REDIS_TLS_VERIFICATION_MODE',
    },
  },
};

export interface JobsConfig {
  backend: 'inprocess' | 'bullmq';
  queue: string;
  attempts: number;
  backoffMs: number;
  concurrency: number;
  remoteRevocationSearchRevisions: number;
}

export const jobsSchema: convict.Schema<JobsConfig> = {
  backend: {
    doc: 'Where background jobs (key revocation, output-key retirement, action GC, inactive sweep) run: in-process (one process) or BullMQ on the Redis of bus.redisUrl (several replicas; the dispatchers run them).',
    format: ['inprocess', 'bullmq'],
    default: 'inprocess',
    env: 'FLEET_JOBS_BACKEND',
  },
  queue: { doc: 'BullMQ queue name (Redis keys are prefixed `fleet:`).', format: String, default: 'fleet-jobs', env: 'FLEET_JOBS_QUEUE' },
  attempts: { doc: 'Tries per background job before it is given up (and kept as failed for 7 days).', format: 'nat', default: 8, env: 'FLEET_JOBS_ATTEMPTS' },
  backoffMs: { doc: 'First retry delay of a failed job; doubles on each retry.', format: 'nat', default: 1_000, env: 'FLEET_JOBS_BACKOFF_MS' },
  concurrency: { doc: 'Jobs a worker runs at once (only dispatchers, and the all-in-one process, run jobs).', format: 'nat', default: 4, env: 'FLEET_JOBS_CONCURRENCY' },
  remoteRevocationSearchRevisions: {
    doc: `Revisions of a policy the revocation jobs read at most (newest first) to find the cluster of a remote Elasticsearch output's key, and its service token; a key whose cluster none of them has is not revoked, and logged. 1 to ${MAX_REVOCATION_SEARCH_REVISIONS}.`,
    format: (v: unknown) => {
      if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_REVOCATION_SEARCH_REVISIONS) {
        throw new Error(`must be an integer from 1 to ${MAX_REVOCATION_SEARCH_REVISIONS}`);
      }
    },
    default: DEFAULT_REVOCATION_SEARCH_REVISIONS,
    env: 'FLEET_REMOTE_OUTPUTS_REVOCATION_SEARCH_REVISIONS',
  },
};

export interface MetricsConfig {
  enabled: boolean;
  host: string;
  port: number;
  token: string;
  tokenFile: string;
}

/** Prometheus metrics on their own listener, so they are never exposed on the agent port. */
export function metricsSchema(defaultPort: number): convict.Schema<MetricsConfig> {
  return {
    enabled: { doc: 'Serve Prometheus metrics on GET /metrics of a separate listener.', format: Boolean, default: true, env: 'FLEET_METRICS_ENABLED' },
    host: {
      doc: 'Address of the metrics listener. Loopback by default; any other address requires metrics.token or metrics.tokenFile.',
      format: String,
      default: '127.0.0.1',
      env: 'FLEET_METRICS_HOST',
    },
    port: { doc: 'Port of the metrics listener (0 picks a free one).', format: 'port', default: defaultPort, env: 'FLEET_METRICS_PORT' },
    token: {
      doc: 'Bearer token a scraper must send (Authorization: Bearer <token>); at least 32 random characters. Required when the listener is not on loopback.',
      format: String,
      default: '',
      env: 'FLEET_METRICS_TOKEN',
      sensitive: true,
    },
    tokenFile: { doc: 'File holding the metrics bearer token (used when metrics.token is empty).', format: String, default: '', env: 'FLEET_METRICS_TOKEN_FILE' },
  };
}

/** What every process (each service and the all-in-one one) is configured with. */
export interface BaseServiceConfig {
  log: LogConfig;
  http: HttpConfig;
  store: StoreConfig;
  server: ServerIdentityConfig;
  bus: BusConfig;
  jobs: JobsConfig;
  metrics: MetricsConfig;
  tracing: TracingConfig;
}

/** The common part of every process's schema; only the default ports differ. */
export function baseServiceSchema(ports: { http: number; metrics: number }): convict.Schema<BaseServiceConfig> {
  return {
    log: logSchema,
    http: httpSchema(ports.http),
    store: storeSchema,
    server: serverIdentitySchema,
    bus: busSchema,
    jobs: jobsSchema,
    metrics: metricsSchema(ports.metrics),
    tracing: tracingSchema,
  };
}
