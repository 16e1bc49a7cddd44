import { createCertificateAuthority, issueCertificate } from '@fleet/service-kit';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate for 127.0.0.1 from a CA made for one bench run, and the server settings that serve it. */
export interface BenchTls {
  certFile: string;
  keyFile: string;
  /** The CA (PEM) clients verify the server with. */
  ca: string;
  serverEnv: Record<string, string>;
  remove(): void;
}

export function createBenchTls(): BenchTls {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-tls-'));
  const ca = createCertificateAuthority({ commonName: 'bench CA' });
  const cert = issueCertificate(ca, { commonName: '127.0.0.1', hosts: ['127.0.0.1', 'localhost'], usage: 'server' });
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  writeFileSync(certFile, cert.certPem);
  writeFileSync(keyFile, cert.keyPem, { mode: 0o600 });
  return {
    certFile,
    keyFile,
    ca: ca.certPem,
    serverEnv: { FLEET_TLS_MODE: 'files', FLEET_TLS_CERT_FILE: certFile, FLEET_TLS_KEY_FILE: keyFile },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
