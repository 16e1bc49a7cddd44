/**
 * ECDSA P-256 certificates made with the `openssl` CLI (OpenSSL 3), with the signatures of
 * `createCertificateAuthority` and `issueCertificate` of `@fleet/service-kit`, so the generator
 * can use either. Keys are made by Node's crypto; openssl only signs.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  /** Hex, as X509Certificate#serialNumber shows it. */
  serial: string;
}
export type CertificateUsage = 'server' | 'client' | 'both';
export interface LeafRequest {
  commonName: string;
  /** DNS names and IP addresses (the subjectAltName). */
  hosts: string[];
  usage: CertificateUsage;
  notBefore?: Date;
  notAfter?: Date;
}

const DAY = 86_400_000;

function ecKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A positive 16-byte serial, as hex. */
const newSerial = (): string => `7${randomBytes(15).toString('hex')}`;

/** openssl takes whole days from now; the CLI cannot set notBefore in the past, so a day is the unit. */
const daysUntil = (notAfter: Date | undefined, fallbackDays: number): number => (notAfter ? Math.max(1, Math.ceil((notAfter.getTime() - Date.now()) / DAY)) : fallbackDays);

function withScratch<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-openssl-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const openssl = (args: string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

const serialOf = (certPem: string): string => new X509Certificate(certPem).serialNumber;

export function createCertificateAuthority(opts: { commonName: string; notAfter?: Date; notBefore?: Date }): IssuedCertificate {
  return withScratch((dir) => {
    const keyPem = ecKey();
    writeFileSync(join(dir, 'ca.key'), keyPem, { mode: 0o600 });
    openssl([
      'req', '-x509', '-new', '-sha256', '-key', join(dir, 'ca.key'), '-subj', `/CN=${opts.commonName}`,
      '-days', String(daysUntil(opts.notAfter, 3650)), '-set_serial', `0x${newSerial()}`,
      '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', 'subjectKeyIdentifier=hash',
      '-out', join(dir, 'ca.crt'),
    ]);
    const certPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
    return { certPem, keyPem, serial: serialOf(certPem) };
  });
}

export function issueCertificate(ca: { certPem: string; keyPem: string }, req: LeafRequest): IssuedCertificate {
  return withScratch((dir) => {
    const keyPem = ecKey();
    writeFileSync(join(dir, 'leaf.key'), keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[req.usage];
    const san = req.hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    openssl([
      'req', '-x509', '-new', '-sha256', '-key', join(dir, 'leaf.key'), '-subj', `/CN=${req.commonName}`,
      '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
      '-days', String(daysUntil(req.notAfter, 825)), '-set_serial', `0x${newSerial()}`,
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature',
      '-addext', `extendedKeyUsage=${eku}`,
      ...(san ? ['-addext', `subjectAltName=${san}`] : []),
      '-out', join(dir, 'leaf.crt'),
    ]);
    const certPem = readFileSync(join(dir, 'leaf.crt'), 'utf8');
    return { certPem, keyPem, serial: serialOf(certPem) };
  });
}
