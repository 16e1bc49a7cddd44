/**
 * The certificates of the scaled-out topology (docker-compose.yml, `npm run topology`): TLS on
 * every hop, haproxy terminating the agents' TLS and re-encrypting to the replicas.
 *
 *   npm run tls:certs -- [--out DIR] [--hosts a,b,...] [--public-hosts a,b,...] [--force]
 *
 * Writes into DIR (default data/tls, where docker-compose.yml's `secrets:` read them):
 *   ca.crt, ca.key                 the internal CA: signs the replicas' server certificate, the
 *                                  proxy's client certificate and (here) haproxy's public one
 *   server.crt, server.key         every replica's certificate (server, and client for its own
 *                                  health check); SAN: --hosts (default: the compose service
 *                                  names, fleet-replica, localhost, 127.0.0.1)
 *   lb.pem (lb.crt)                haproxy's public certificate and key in one file, as haproxy
 *                                  reads it; SAN: --public-hosts (default localhost, 127.0.0.1)
 *   proxy-client.pem               haproxy's client certificate and key towards the replicas
 *                                  (they require a client certificate of the internal CA); also
 *                                  as proxy-client.crt and proxy-client.key
 *   elasticsearch.crt, .key        Elasticsearch's HTTPS certificate (xpack.security.http.ssl);
 *                                  SAN: the compose service name elasticsearch, localhost, 127.0.0.1
 *   redis.crt, redis.key           Redis's TLS certificate (server, and client for its own health
 *                                  check, as Redis requires client certificates of the internal
 *                                  CA); SAN: redis, localhost, 127.0.0.1. The replicas present
 *                                  server.crt to Redis as their client certificate.
 *   agents-ca.crt, agents-ca.key   the CA haproxy checks agents' client certificates against
 *   agent.crt, agent.key           one sample agent client certificate of that CA
 * Keys (and the .pem files, which hold one) are mode 0600. Existing files are kept unless --force.
 * In production, lb.pem holds a certificate of a CA your agents already trust, and agents-ca.crt
 * the CA that signs your agents' certificates; the internal CA never leaves the deployment.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createCertificateAuthority, issueCertificate, type CertificateAuthorityOptions, type CertificateOptions, type IssuedCertificate } from '@fleet/service-kit';

/** The name every replica certificate carries, which the proxies check (haproxy `verifyhost`, ingress-nginx `proxy-ssl-name`). */
export const REPLICA_TLS_NAME = 'fleet-replica';

/** The compose service names of the replicas (docker-compose.yml). */
export const COMPOSE_REPLICA_HOSTS = ['dispatcher-1', 'dispatcher-2', 'enrollment-1', 'enrollment-2', 'gateway-1', 'gateway-2', 'gateway-3'];
export const DEFAULT_REPLICA_HOSTS = [...COMPOSE_REPLICA_HOSTS, REPLICA_TLS_NAME, 'localhost', '127.0.0.1'];
export const DEFAULT_PUBLIC_HOSTS = ['localhost', '127.0.0.1'];
/** The compose service names of Elasticsearch and Redis (docker-compose.yml), which their certificates name. */
export const COMPOSE_ELASTICSEARCH_HOST = 'elasticsearch';
export const COMPOSE_REDIS_HOST = 'redis';
export const ELASTICSEARCH_HOSTS = [COMPOSE_ELASTICSEARCH_HOST, 'localhost', '127.0.0.1'];
export const REDIS_HOSTS = [COMPOSE_REDIS_HOST, 'localhost', '127.0.0.1'];

/** The file names in the output directory (docker-compose.yml's secrets and the runner read these). */
export const CERT_FILES = {
  ca: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'server.crt',
  serverKey: 'server.key',
  lbPem: 'lb.pem',
  lbCert: 'lb.crt',
  proxyClientPem: 'proxy-client.pem',
  proxyClientCert: 'proxy-client.crt',
  proxyClientKey: 'proxy-client.key',
  esCert: 'elasticsearch.crt',
  esKey: 'elasticsearch.key',
  redisCert: 'redis.crt',
  redisKey: 'redis.key',
  agentsCa: 'agents-ca.crt',
  agentsCaKey: 'agents-ca.key',
  agentCert: 'agent.crt',
  agentKey: 'agent.key',
} as const;

/** Who signs: service-kit's X.509 writer (ECDSA P-256), or a stand-in in tests. */
export interface CertificateIssuer {
  createCertificateAuthority(opts: CertificateAuthorityOptions): IssuedCertificate;
  issueCertificate(ca: Pick<IssuedCertificate, 'certPem' | 'keyPem'>, opts: CertificateOptions): IssuedCertificate;
}

export const serviceKitIssuer: CertificateIssuer = { createCertificateAuthority, issueCertificate };

export interface DeploymentCertificates {
  dir: string;
  /** Absolute paths of the files, by CERT_FILES key. */
  files: { [K in keyof typeof CERT_FILES]: string };
  /** Whether they were made now (false: every file was there already and was kept). */
  generated: boolean;
}

export interface GenerateOptions {
  out: string;
  hosts?: string[];
  publicHosts?: string[];
  force?: boolean;
  issuer?: CertificateIssuer;
}

const writeKey = (path: string, pem: string): void => {
  writeFileSync(path, pem, { mode: 0o600 });
  chmodSync(path, 0o600); // an existing file keeps its mode on write
};
const writeCert = (path: string, pem: string): void => {
  writeFileSync(path, pem, { mode: 0o644 });
};

export function generateDeploymentCertificates(opts: GenerateOptions): DeploymentCertificates {
  const dir = resolve(opts.out);
  const files = Object.fromEntries(Object.entries(CERT_FILES).map(([k, f]) => [k, join(dir, f)])) as DeploymentCertificates['files'];
  if (!opts.force && Object.values(files).every((f) => existsSync(f))) return { dir, files, generated: false };
  const issuer = opts.issuer ?? serviceKitIssuer;
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const ca = issuer.createCertificateAuthority({ commonName: 'Fleet Server internal CA' });
  // Server and client: a replica's container health check presents it (the replicas require a
  // client certificate of the internal CA).
  const server = issuer.issueCertificate(ca, { commonName: REPLICA_TLS_NAME, hosts: opts.hosts ?? DEFAULT_REPLICA_HOSTS, usage: 'both' });
  const lb = issuer.issueCertificate(ca, { commonName: (opts.publicHosts ?? DEFAULT_PUBLIC_HOSTS)[0] ?? 'localhost', hosts: opts.publicHosts ?? DEFAULT_PUBLIC_HOSTS, usage: 'server' });
  const proxyClient = issuer.issueCertificate(ca, { commonName: 'fleet-proxy', hosts: [], usage: 'client' });
  const es = issuer.issueCertificate(ca, { commonName: COMPOSE_ELASTICSEARCH_HOST, hosts: ELASTICSEARCH_HOSTS, usage: 'server' });
  const redis = issuer.issueCertificate(ca, { commonName: COMPOSE_REDIS_HOST, hosts: REDIS_HOSTS, usage: 'both' });
  const agentsCa = issuer.createCertificateAuthority({ commonName: 'Fleet agents CA' });
  const agent = issuer.issueCertificate(agentsCa, { commonName: 'sample-agent', hosts: [], usage: 'client' });

  writeCert(files.ca, ca.certPem);
  writeKey(files.caKey, ca.keyPem);
  writeCert(files.serverCert, server.certPem);
  writeKey(files.serverKey, server.keyPem);
  writeKey(files.lbPem, lb.certPem + lb.keyPem);
  writeCert(files.lbCert, lb.certPem);
  writeKey(files.proxyClientPem, proxyClient.certPem + proxyClient.keyPem);
  writeCert(files.proxyClientCert, proxyClient.certPem);
  writeKey(files.proxyClientKey, proxyClient.keyPem);
  writeCert(files.esCert, es.certPem);
  writeKey(files.esKey, es.keyPem);
  writeCert(files.redisCert, redis.certPem);
  writeKey(files.redisKey, redis.keyPem);
  writeCert(files.agentsCa, agentsCa.certPem);
  writeKey(files.agentsCaKey, agentsCa.keyPem);
  writeCert(files.agentCert, agent.certPem);
  writeKey(files.agentKey, agent.keyPem);
  return { dir, files, generated: true };
}

/** Reads a generated file (a convenience for tests and the runner). */
export const readCertFile = (certs: DeploymentCertificates, key: keyof typeof CERT_FILES): string => readFileSync(certs.files[key], 'utf8');

function parseArgs(argv: string[]): GenerateOptions {
  const opts: GenerateOptions = { out: join(resolve(__dirname, '../..'), 'data', 'tls') };
  const list = (v: string | undefined, flag: string): string[] => {
    const items = (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) throw new Error(`${flag} needs a comma-separated list`);
    return items;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--out') opts.out = argv[++i] ?? '';
    else if (arg === '--hosts') opts.hosts = list(argv[++i], '--hosts');
    else if (arg === '--public-hosts') opts.publicHosts = list(argv[++i], '--public-hosts');
    else if (arg === '--force') opts.force = true;
    else throw new Error(`unknown argument ${arg}; usage: generate-certs [--out DIR] [--hosts a,b] [--public-hosts a,b] [--force]`);
  }
  if (!opts.out) throw new Error('--out needs a directory');
  return opts;
}

if (require.main === module) {
  try {
    const certs = generateDeploymentCertificates(parseArgs(process.argv.slice(2)));
    process.stdout.write(`${certs.generated ? 'written' : 'kept (all present; --force makes new ones)'}: ${certs.dir}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
