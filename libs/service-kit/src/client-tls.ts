import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect, createSecureContext, rootCertificates, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { ConfigError, readConfiguredFile, type BusConfig, type ElasticsearchConfig, type OutputKeysConfig, type TlsVerificationMode } from './config';
import type { Logger } from './logger';

/**
 * TLS towards the servers a process depends on (Elasticsearch, Redis), built in one place from
 * the config: the files are read and checked at start, so a missing or unreadable file, or a key
 * that does not match its certificate, fails the start with the file and the setting named.
 * Verification is never off unless `none` is set, and then a warning is logged.
 */

/** The CA named by `caTrustedFingerprint` could not be fetched from Elasticsearch at start. */
export class CaFingerprintError extends Error {
  override name = 'CaFingerprintError';
}

/** A setting that names a file: its config key and environment variable, for error messages. */
interface FileSetting {
  key: string;
  env: string;
}
type TlsFileSettings = Record<'ca' | 'cert' | 'key' | 'passphrase', FileSetting>;

const ES_SETTINGS = {
  ca: { key: 'store.elasticsearch.ssl.certificateAuthorities', env: 'FLEET_ES_SSL_CA_FILE' },
  cert: { key: 'store.elasticsearch.ssl.certificate', env: 'FLEET_ES_SSL_CERT_FILE' },
  key: { key: 'store.elasticsearch.ssl.key', env: 'FLEET_ES_SSL_KEY_FILE' },
  passphrase: { key: 'store.elasticsearch.ssl.keyPassphraseFile', env: 'FLEET_ES_SSL_KEY_PASSPHRASE_FILE' },
} satisfies TlsFileSettings;

const OUTPUT_KEYS_CA = { key: 'store.outputKeys.ssl.certificateAuthorities', env: 'FLEET_OUTPUT_KEYS_SSL_CA_FILE' };

const REDIS_SETTINGS = {
  ca: { key: 'bus.redisTls.caFile', env: 'FLEET_REDIS_TLS_CA_FILE' },
  cert: { key: 'bus.redisTls.certFile', env: 'FLEET_REDIS_TLS_CERT_FILE' },
  key: { key: 'bus.redisTls.keyFile', env: 'FLEET_REDIS_TLS_KEY_FILE' },
  passphrase: { key: 'bus.redisTls.keyPassphraseFile', env: 'FLEET_REDIS_TLS_KEY_PASSPHRASE_FILE' },
} satisfies TlsFileSettings;

const named = (s: FileSetting) => `${s.key} (${s.env})`;

const readSettingFile = (path: string, setting: FileSetting): string => readConfiguredFile(path, named(setting)).toString('utf8');

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM file; at least one, each parseable. */
function readCertificates(path: string, setting: FileSetting): string[] {
  const pems = readSettingFile(path, setting).match(PEM_CERTIFICATE) ?? [];
  if (pems.length === 0) throw new ConfigError(`${named(setting)}: ${path} holds no PEM certificate`);
  for (const pem of pems) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new ConfigError(`${named(setting)}: ${path} holds an invalid certificate: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return pems;
}

interface ClientIdentityFiles {
  cert: string;
  key: string;
  passphraseFile: string;
}

/** The client certificate and key, checked to belong together (and the passphrase to open the key). */
function readClientIdentity(files: ClientIdentityFiles, settings: TlsFileSettings): Pick<ConnectionOptions, 'cert' | 'key' | 'passphrase'> {
  if (!files.cert && !files.key) {
    if (files.passphraseFile) throw new ConfigError(`${named(settings.passphrase)} is set without a client key`);
    return {};
  }
  if (!files.cert) throw new ConfigError(`${named(settings.key)} is set without ${named(settings.cert)}`);
  if (!files.key) throw new ConfigError(`${named(settings.cert)} is set without ${named(settings.key)}`);
  const cert = readCertificates(files.cert, settings.cert).join('\n');
  const key = readSettingFile(files.key, settings.key);
  const passphrase = files.passphraseFile ? readSettingFile(files.passphraseFile, settings.passphrase).replace(/\r?\n$/, '') : undefined;
  try {
    createSecureContext({ cert, key, ...(passphrase !== undefined ? { passphrase } : {}) });
  } catch (err) {
    throw new ConfigError(
      `client certificate ${files.cert} (${named(settings.cert)}) and key ${files.key} (${named(settings.key)}) cannot be used together: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return { cert, key, ...(passphrase !== undefined ? { passphrase } : {}) };
}

/** Node's TLS options for a verification mode (`none` only when asked for, by the caller). */
function verificationOptions(mode: TlsVerificationMode): ConnectionOptions {
  switch (mode) {
    case 'full':
      return { rejectUnauthorized: true };
    case 'certificate':
      // The chain is still verified; only the host name check is skipped.
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'none':
      return { rejectUnauthorized: false };
  }
}

const normalizeFingerprint = (hex: string): string => hex.replace(/[:\s]/g, '').toLowerCase();

/**
 * TLS options of the Elasticsearch client, or undefined when every host is plain http and no TLS
 * setting is given. A CA named by `caTrustedFingerprint` is fetched from the first host that
 * answers, and trusted alongside the configured CAs (or the system CAs when none are configured).
 */
export async function elasticsearchClientTls(
  config: ElasticsearchConfig,
  logger: Logger,
  opts: { fingerprintTimeoutMs?: number } = {},
): Promise<ConnectionOptions | undefined> {
  const ssl = config.ssl;
  const httpsHosts = config.hosts.filter((h) => /^https:/i.test(h.trim()));
  const anyFile = ssl.certificateAuthorities.length > 0 || ssl.certificate || ssl.key || ssl.caTrustedFingerprint;
  if (httpsHosts.length === 0) {
    if (anyFile) {
      throw new ConfigError(
        `store.elasticsearch.ssl settings are given but no Elasticsearch host is https (store.elasticsearch.hosts: ${config.hosts.join(', ')}): use https:// URLs`,
      );
    }
    return undefined;
  }
  if (httpsHosts.length !== config.hosts.length) {
    throw new ConfigError(`store.elasticsearch.hosts mixes http and https URLs (${config.hosts.join(', ')}): TLS must be on for all or none`);
  }
  const cas = ssl.certificateAuthorities.flatMap((file) => readCertificates(file, ES_SETTINGS.ca));
  const identity = readClientIdentity({ cert: ssl.certificate, key: ssl.key, passphraseFile: ssl.keyPassphraseFile }, ES_SETTINGS);
  const options: ConnectionOptions = { ...identity, ...verificationOptions(ssl.verificationMode) };
  if (ssl.verificationMode === 'none') {
    logger.warn({ setting: 'store.elasticsearch.ssl.verificationMode' }, 'TLS verification of Elasticsearch is off');
    return options;
  }
  if (ssl.caTrustedFingerprint) {
    const fingerprint = normalizeFingerprint(ssl.caTrustedFingerprint);
    if (!/^[0-9a-f]{64}$/.test(fingerprint)) {
      throw new ConfigError('store.elasticsearch.ssl.caTrustedFingerprint (FLEET_ES_SSL_CA_TRUSTED_FINGERPRINT) must be a hex SHA-256 (64 hex digits)');
    }
    const pinned = await fetchTrustedCa(httpsHosts, fingerprint, identity, opts.fingerprintTimeoutMs ?? Math.min(config.requestTimeoutMs, 10_000));
    logger.info({ subject: new X509Certificate(pinned).subject, fingerprint }, 'elasticsearch: trusting the CA of caTrustedFingerprint');
    cas.push(...(cas.length > 0 ? [] : rootCertificates), pinned);
  }
  if (cas.length > 0) options.ca = cas;
  return options;
}

/**
 * TLS options of the Redis connections (bus and BullMQ) for a `rediss://` URL, or undefined for
 * `redis://` (then no TLS file may be set: a CA given for a plain URL would silently not be used).
 */
/**
 * TLS options of the output key cluster's client (its CAs and verification mode), or undefined
 * when its hosts are plain http and nothing TLS is set.
 */
export function outputKeyClusterTls(config: OutputKeysConfig, logger: Logger): ConnectionOptions | undefined {
  const { ssl, hosts } = config;
  const https = hosts.filter((h) => /^https:/i.test(h.trim())).length;
  if (https === 0) {
    if (ssl.certificateAuthorities.length) {
      throw new ConfigError(`${named(OUTPUT_KEYS_CA)} is set but no store.outputKeys.hosts URL is https (${hosts.join(', ')})`);
    }
    return undefined;
  }
  if (https !== hosts.length) throw new ConfigError(`store.outputKeys.hosts mixes http and https URLs (${hosts.join(', ')}): TLS must be on for all or none`);
  if (ssl.verificationMode === 'none') logger.warn({ setting: 'store.outputKeys.ssl.verificationMode' }, 'TLS verification of the output key cluster is off');
  const cas = ssl.certificateAuthorities.flatMap((file) => readCertificates(file, OUTPUT_KEYS_CA));
  return { ...verificationOptions(ssl.verificationMode), ...(cas.length ? { ca: cas } : {}) };
}

export function redisClientTls(config: BusConfig, logger: Logger): ConnectionOptions | undefined {
  const tls = config.redisTls;
  let protocol: string;
  try {
    protocol = new URL(config.redisUrl).protocol;
  } catch {
    throw new ConfigError('bus.redisUrl (FLEET_REDIS_URL) is not a URL');
  }
  if (protocol !== 'rediss:') {
    if (tls.caFile || tls.certFile || tls.keyFile) {
      throw new ConfigError('bus.redisTls files are set but bus.redisUrl (FLEET_REDIS_URL) is not rediss://: use a rediss:// URL for TLS');
    }
    return undefined;
  }
  const identity = readClientIdentity({ cert: tls.certFile, key: tls.keyFile, passphraseFile: tls.keyPassphraseFile }, REDIS_SETTINGS);
  const options: ConnectionOptions = { ...identity, ...verificationOptions(tls.verificationMode) };
  if (tls.verificationMode === 'none') {
    logger.warn({ setting: 'bus.redisTls.verificationMode' }, 'TLS verification of Redis is off');
    return options;
  }
  if (tls.caFile) options.ca = readCertificates(tls.caFile, REDIS_SETTINGS.ca);
  return options;
}

function chainOf(peer: PeerCertificate): PeerCertificate[] {
  const chain: PeerCertificate[] = [];
  let cert: PeerCertificate | undefined = peer;
  while (cert?.raw && !chain.some((c) => c.fingerprint256 === cert?.fingerprint256)) {
    chain.push(cert);
    cert = (cert as { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return chain;
}

/**
 * Fetches the chain the first reachable host presents (nothing is sent over this connection) and
 * returns, as PEM, the CA certificate in it whose SHA-256 is `fingerprint`. That CA is then trusted
 * by the client, which verifies every connection as usual.
 */
async function fetchTrustedCa(hosts: string[], fingerprint: string, identity: ConnectionOptions, timeoutMs: number): Promise<string> {
  const failures: string[] = [];
  for (const host of hosts) {
    const url = new URL(host);
    try {
      const chain = await new Promise<PeerCertificate[]>((resolve, reject) => {
        const hostname = url.hostname.replace(/^\[|\]$/g, '');
        const socket = connect({
          ...identity,
          host: hostname,
          port: Number(url.port || 443),
          ...(isIP(hostname) ? {} : { servername: hostname }),
          rejectUnauthorized: false,
          timeout: timeoutMs,
        });
        socket.once('secureConnect', () => {
          const peer = socket.getPeerCertificate(true);
          socket.destroy();
          resolve(chainOf(peer));
        });
        socket.once('timeout', () => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)));
        socket.once('error', reject);
      });
      const match = chain.find((c) => normalizeFingerprint(c.fingerprint256) === fingerprint);
      if (!match) {
        failures.push(`${url.host}: no certificate in its chain has this fingerprint (it has ${chain.map((c) => normalizeFingerprint(c.fingerprint256)).join(', ')})`);
        continue;
      }
      const ca = new X509Certificate(match.raw);
      if (!ca.ca) {
        failures.push(`${url.host}: the certificate with this fingerprint (${ca.subject}) is not a CA`);
        continue;
      }
      return ca.toString();
    } catch (err) {
      failures.push(`${url.host}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new CaFingerprintError(
    `cannot find the CA of store.elasticsearch.ssl.caTrustedFingerprint (FLEET_ES_SSL_CA_TRUSTED_FINGERPRINT) at Elasticsearch: ${failures.join('; ')}`,
  );
}
