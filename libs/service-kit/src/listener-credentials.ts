import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError, readConfiguredFile, type ListenerTlsConfig } from './config';
import type { Logger } from './logger';

/** What an operator (and `/api/status`) is told about the certificate being served. */
export interface CertificateSummary {
  file: string;
  subject: string;
  issuer: string;
  serial_number: string;
  not_before: string;
  not_after: string;
  expired: boolean;
}

interface LoadedFiles {
  /** Every file's bytes, in order: compared on each re-read to notice a change. */
  snapshot: Buffer;
  options: SecureContextOptions;
  certificate: X509Certificate;
}

/**
 * The listener's TLS as configured: none (`off`, logged), the given files, or, in `auto` mode
 * without files, what `generate` provides (the all-in-one process creates its own CA; a
 * standalone service passes nothing and so refuses to start in the clear by accident).
 */
export function resolveListenerTls(
  cfg: ListenerTlsConfig,
  logger: Logger,
  generate?: () => { certFile: string; keyFile: string },
): ListenerCredentials | undefined {
  if (cfg.mode === 'off') {
    logger.warn('TLS is off (http.tls.mode=off): serving plain HTTP, which only a balancer that terminates TLS may reach');
    return undefined;
  }
  if (cfg.certFile || cfg.keyFile) {
    if (!cfg.certFile || !cfg.keyFile) throw new ConfigError('http.tls.certFile and http.tls.keyFile (FLEET_TLS_CERT_FILE, FLEET_TLS_KEY_FILE) go together: set both');
    return ListenerCredentials.load(cfg, logger);
  }
  if (cfg.mode === 'files' || !generate) {
    throw new ConfigError(
      'no TLS certificate: set FLEET_TLS_CERT_FILE and FLEET_TLS_KEY_FILE, or FLEET_TLS_MODE=off for a replica behind a balancer that terminates TLS',
    );
  }
  return ListenerCredentials.load({ ...cfg, ...generate() }, logger);
}

/** The files of the listener's TLS that are given, with the settings that name them. */
type CredentialFiles = Pick<ListenerTlsConfig, 'certFile' | 'keyFile' | 'keyPassphraseFile' | 'chainFile' | 'clientAuth' | 'clientCaFile' | 'minVersion' | 'ciphers'>;

/**
 * The agent listener's certificate, key and client CAs, read from files and checked before use
 * (a certificate, a key that matches it, a passphrase that opens it), then re-read on an
 * interval: a changed set is handed to the server for new connections, and a bad one is logged
 * and ignored, so the certificate in use stays until a good one replaces it.
 */
export class ListenerCredentials {
  private loaded: LoadedFiles;
  /** The last set of files refused (their bytes, or why they could not be read), logged once. */
  private rejected: Buffer | string | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly files: CredentialFiles,
    private readonly logger: Logger,
  ) {
    this.loaded = loadFiles(files);
  }

  /** Reads and checks the files; a ConfigError naming the file when one is missing, unreadable or wrong. */
  static load(files: CredentialFiles, logger: Logger): ListenerCredentials {
    const credentials = new ListenerCredentials(files, logger);
    const summary = credentials.certificate;
    if (summary.expired) logger.error({ certificate: summary }, `the TLS certificate ${summary.file} expired on ${summary.not_after}: agents will refuse it`);
    else logger.info({ certificate: summary }, 'serving TLS');
    return credentials;
  }

  get secureContextOptions(): SecureContextOptions {
    return this.loaded.options;
  }

  get clientAuth(): ListenerTlsConfig['clientAuth'] {
    return this.files.clientAuth;
  }

  get certificate(): CertificateSummary {
    return summarize(this.loaded.certificate, this.files.certFile);
  }

  /** For `/api/status`: the certificate served (not where its file is) and the client-certificate mode. */
  statusDetail(): { certificate: Omit<CertificateSummary, 'file'>; client_authentication: string } {
    const { file: _file, ...certificate } = this.certificate;
    return { certificate, client_authentication: this.files.clientAuth };
  }

  /**
   * Re-reads the files every `intervalMs` and calls `apply` with the options of a changed,
   * valid set. Idempotent with `close()`.
   */
  watch(intervalMs: number, apply: (options: SecureContextOptions) => void): void {
    if (intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => this.reload(apply), intervalMs);
    this.timer.unref();
  }

  /** One re-read; returns whether a new certificate was applied. */
  reload(apply: (options: SecureContextOptions) => void): boolean {
    let snapshot: Buffer;
    try {
      snapshot = snapshotOf(this.files);
    } catch (err) {
      // A file missing for a moment (a Kubernetes Secret's symlink swap) or for good: logged once.
      this.reject(err instanceof Error ? err.message : String(err), err);
      return false;
    }
    if (snapshot.equals(this.loaded.snapshot) || (Buffer.isBuffer(this.rejected) && snapshot.equals(this.rejected))) return false;
    let next: LoadedFiles;
    try {
      next = loadFiles(this.files);
    } catch (err) {
      this.reject(snapshot, err);
      return false;
    }
    apply(next.options);
    const previous = this.certificate;
    this.loaded = next;
    this.rejected = undefined;
    this.logger.info({ previous: previous.serial_number, certificate: this.certificate }, 'TLS certificate files changed: new connections get the new certificate');
    return true;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private reject(what: Buffer | string, err: unknown): void {
    // Logged once per bad set of files, not on every interval.
    const same = typeof what === 'string' ? this.rejected === what : Buffer.isBuffer(this.rejected) && this.rejected.equals(what);
    if (same) return;
    this.rejected = what;
    this.logger.error({ reason: err instanceof Error ? err.message : String(err), serving: this.certificate.serial_number }, 'TLS certificate files changed but cannot be used: keeping the current certificate');
  }
}

const SEPARATOR = Buffer.from([0]);

/** The bytes of every file given, in a fixed order. */
function snapshotOf(files: CredentialFiles): Buffer {
  const paths = [files.certFile, files.keyFile, files.keyPassphraseFile, files.chainFile, files.clientCaFile];
  return Buffer.concat(paths.flatMap((p) => (p ? [readFileSync(p), SEPARATOR] : [SEPARATOR])));
}

function loadFiles(files: CredentialFiles): LoadedFiles {
  const cert = readConfiguredFile(files.certFile, 'the TLS certificate (http.tls.certFile)');
  const key = readConfiguredFile(files.keyFile, 'the TLS key (http.tls.keyFile)');
  const passphraseBytes = files.keyPassphraseFile ? readConfiguredFile(files.keyPassphraseFile, 'the TLS key passphrase (http.tls.keyPassphraseFile)') : undefined;
  const chain = files.chainFile ? readConfiguredFile(files.chainFile, 'the TLS chain (http.tls.chainFile)') : undefined;
  if (files.clientAuth !== 'none' && !files.clientCaFile) {
    throw new ConfigError(`http.tls.clientAuth=${files.clientAuth} needs http.tls.clientCaFile (the CAs of the client certificates)`);
  }
  const ca = files.clientCaFile ? readConfiguredFile(files.clientCaFile, 'the client CA (http.tls.clientCaFile)') : undefined;
  const snapshot = Buffer.concat([cert, key, passphraseBytes, chain, ca].flatMap((b) => (b ? [b, SEPARATOR] : [SEPARATOR])));
  const passphrase = passphraseBytes?.toString('utf8').replace(/\r?\n$/, '');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`the TLS certificate ${files.certFile} is not a PEM certificate: ${err instanceof Error ? err.message : String(err)}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(passphrase === undefined ? { key } : { key, passphrase });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`cannot use the TLS key ${files.keyFile}${files.keyPassphraseFile ? ` with the passphrase in ${files.keyPassphraseFile}` : ''}: ${reason}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(`the TLS key ${files.keyFile} does not belong to the certificate ${files.certFile}`);
  }
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw new ConfigError(`the client CA ${files.clientCaFile} is not a PEM certificate: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const options: SecureContextOptions = {
    cert: chain ? Buffer.concat([cert, Buffer.from('\n'), chain]) : cert,
    key,
    ...(passphrase === undefined ? {} : { passphrase }),
    ...(ca ? { ca } : {}),
    minVersion: files.minVersion,
    ciphers: files.ciphers,
  };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new ConfigError(`cannot serve TLS with ${files.certFile} and ${files.keyFile}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { snapshot, options, certificate };
}

function summarize(cert: X509Certificate, file: string): CertificateSummary {
  const notAfter = new Date(cert.validTo);
  return {
    file,
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    serial_number: cert.serialNumber.toUpperCase(),
    not_before: new Date(cert.validFrom).toISOString(),
    not_after: notAfter.toISOString(),
    expired: notAfter.getTime() < Date.now(),
  };
}
