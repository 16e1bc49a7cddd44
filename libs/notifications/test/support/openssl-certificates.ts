import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

/**
 * Test certificates made with the openssl CLI (ECDSA P-256), as files in a directory: a CA, and
 * server or client certificates it signs. Until @fleet/service-kit exports its certificate helpers.
 */
export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

const openssl = (args: string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
};

/** A self-signed CA (also usable as a self-signed server certificate when `hosts` are given). */
export function createTestCa(dir: string, name: string, hosts: string[] = []): CertificateFiles {
  const files = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
  const ext = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'];
  if (hosts.length) ext.push('-addext', `subjectAltName=${sanOf(hosts)}`);
  openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', files.keyFile, '-out', files.certFile, ...ext]);
  return files;
}

const sanOf = (hosts: string[]) => hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');

/** A certificate signed by `ca`, for a server (with `hosts` as subject alternative names) or a client. */
export function issueTestCertificate(
  ca: CertificateFiles,
  dir: string,
  name: string,
  opts: { usage: 'server' | 'client'; hosts?: string[] },
): CertificateFiles {
  const files = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256', '-subj', `/CN=${name}`, '-keyout', files.keyFile, '-out', csr]);
  const lines = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', `extendedKeyUsage=${opts.usage === 'server' ? 'serverAuth' : 'clientAuth'}`];
  if (opts.hosts?.length) lines.push(`subjectAltName=${sanOf(opts.hosts)}`);
  writeFileSync(ext, `${lines.join('\n')}\n`);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${createHash('sha1').update(name + Date.now()).digest('hex').slice(0, 16)}`,
    '-days', '2', '-sha256', '-extfile', ext, '-out', files.certFile]);
  return files;
}

/** Hex SHA-256 of a certificate file's first certificate, as `caTrustedFingerprint` takes it. */
export function sha256Of(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256.replace(/:/g, '').toLowerCase();
}
