import { createCertificateAuthority, issueCertificate, type IssuedCertificate } from '@fleet/service-kit';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate and its key as PEM files (what the TLS settings name), plus the PEMs. */
export interface CertificateFiles extends IssuedCertificate {
  certFile: string;
  keyFile: string;
}

function write(dir: string, name: string, issued: IssuedCertificate): CertificateFiles {
  const files = { ...issued, certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
  writeFileSync(files.certFile, issued.certPem);
  writeFileSync(files.keyFile, issued.keyPem, { mode: 0o600 });
  return files;
}

/** A private CA, written to `<dir>/<name>.crt` and `.key` (also usable as a self-signed server certificate). */
export const createTestCa = (dir: string, name: string): CertificateFiles => write(dir, name, createCertificateAuthority({ commonName: name }));

/** A server certificate for `hosts`, or a client certificate, signed by `ca`. */
export const issueTestCertificate = (ca: CertificateFiles, dir: string, name: string, opts: { usage: 'server' | 'client'; hosts?: string[] }): CertificateFiles =>
  write(dir, name, issueCertificate(ca, { commonName: name, usage: opts.usage, ...(opts.hosts ? { hosts: opts.hosts } : {}) }));
