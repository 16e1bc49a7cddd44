import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from './logger';
import { createCertificateAuthority, issueCertificate, type IssuedCertificate } from './x509-certificates';

/** The files of a generated CA and the server certificate it signed. */
export interface GeneratedCertificates {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

const RENEW_BEFORE_MS = 30 * 86_400_000;

/**
 * HTTPS without any setup, as Elasticsearch 8 does on its first start: a private CA and a server
 * certificate for `hosts`, kept in `dir` (0700; keys 0600). The CA is made once and kept, so
 * agents enrolled with its `ca.crt` keep trusting the server; the server certificate is issued
 * again when it no longer names every host (FLEET_PUBLIC_URLS changed), is not signed by the CA,
 * or expires within 30 days. Files are replaced by rename, so a reader never sees half of one.
 */
export function ensureGeneratedCertificates(dir: string, hosts: string[], logger: Logger): GeneratedCertificates {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const files = { dir, caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
  const caKeyFile = join(dir, 'ca.key');
  let ca: IssuedCertificate;
  if (existsSync(files.caFile) && existsSync(caKeyFile)) {
    ca = { certPem: readFileSync(files.caFile, 'utf8'), keyPem: readFileSync(caKeyFile, 'utf8'), serial: '' };
  } else {
    ca = createCertificateAuthority({ commonName: 'Fleet Server TS private CA' });
    writeAtomically(caKeyFile, ca.keyPem, 0o600);
    writeAtomically(files.caFile, ca.certPem, 0o644);
    logger.info({ file: files.caFile }, 'created a private CA for the HTTPS listener');
  }
  const reason = reissueReason(files, ca, hosts);
  if (reason) {
    const issued = issueCertificate(ca, { commonName: hosts[0] ?? 'localhost', hosts, usage: 'server' });
    writeAtomically(files.keyFile, issued.keyPem, 0o600);
    writeAtomically(files.certFile, issued.certPem, 0o644);
    logger.info({ file: files.certFile, hosts, reason }, 'issued the HTTPS server certificate');
  }
  return files;
}

/** The hosts a generated certificate names: the public URLs' hosts, this machine's name, and loopback. */
export function certificateHosts(publicUrls: readonly string[]): string[] {
  const hosts = new Set<string>();
  for (const url of publicUrls) {
    try {
      hosts.add(new URL(url).hostname.replace(/^\[(.*)\]$/, '$1'));
    } catch {
      // not a URL: the configuration check reports it
    }
  }
  for (const h of ['localhost', hostname(), '127.0.0.1', '::1']) hosts.add(h);
  return [...hosts].filter((h) => h.length > 0);
}

function reissueReason(files: GeneratedCertificates, ca: IssuedCertificate, hosts: string[]): string | undefined {
  if (!existsSync(files.certFile) || !existsSync(files.keyFile)) return 'none yet';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(files.certFile));
  } catch {
    return 'unreadable';
  }
  if (!cert.verify(new X509Certificate(ca.certPem).publicKey)) return 'not signed by the CA';
  if (new Date(cert.validTo).getTime() - Date.now() < RENEW_BEFORE_MS) return 'expires within 30 days';
  const missing = hosts.filter((h) => (isIP(h) ? cert.checkIP(h) : cert.checkHost(h)) === undefined);
  return missing.length > 0 ? `does not name ${missing.join(', ')}` : undefined;
}

function writeAtomically(path: string, content: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}
