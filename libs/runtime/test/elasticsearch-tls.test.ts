import { openStore } from '@fleet/runtime';
import { CaFingerprintError, ConfigError, elasticsearchClientTls, loadConfig, storeSchema, type StoreConfig } from '@fleet/service-kit';
import { ElasticsearchFleetStore, type FleetStore } from '@fleet/store';
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readEsEnvFile } from '../../../deploy/elasticsearch/es-env-file';
import { createTestCa, issueTestCertificate, type CertificateFiles } from './support/certificate-files';
import { capturingLogger, rejection } from './support/test-helpers';

const script = resolve(__dirname, '../../../deploy/elasticsearch/es-node.sh');

/**
 * One HTTPS Elasticsearch node for the whole file (es-node.sh with FLEET_ES_TLS=true, a client
 * certificate required), stopped in `after`. FLEET_TEST_ES_TLS_ENV may name the es.env of such a
 * node already running (it is then left running).
 */
describe('TLS from a process to Elasticsearch (an HTTPS test node)', function () {
  this.timeout(60_000);
  let node: Record<string, string>;
  let startedWorkDir: string | undefined;
  let dir: string;
  let otherCa: CertificateFiles;
  let strangerClient: CertificateFiles;
  const opened: FleetStore[] = [];

  before(async function () {
    this.timeout(300_000);
    const given = process.env.FLEET_TEST_ES_TLS_ENV;
    if (given) {
      node = readEsEnvFile(given);
    } else {
      startedWorkDir = mkdtempSync(join(tmpdir(), 'fleet-es-tls-'));
      const envFile = execFileSync(script, ['start', startedWorkDir], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 280_000,
        env: { ...process.env, FLEET_ES_TLS: 'true', FLEET_ES_TLS_CLIENT_AUTH: 'required', FLEET_ES_PORT: '0' },
      }).trim();
      node = readEsEnvFile(envFile);
    }
    expect(node.FLEET_ES_URL).to.match(/^https:\/\//);
    dir = mkdtempSync(join(tmpdir(), 'fleet-es-tls-test-'));
    otherCa = createTestCa(dir, 'other-ca');
    strangerClient = issueTestCertificate(otherCa, dir, 'stranger', { usage: 'client' });
    await Promise.resolve();
  });

  after(function () {
    this.timeout(120_000);
    if (startedWorkDir) execFileSync(script, ['clean', startedWorkDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 110_000 });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  const clientAuthRequired = () => node.FLEET_ES_TLS_CLIENT_AUTH === 'required';

  /** The store settings as a process reads them from its environment: the node, its token, and `env`. */
  const settings = (env: Record<string, string>): StoreConfig =>
    loadConfig(
      { store: storeSchema },
      {
        env: {
          FLEET_STORE_BACKEND: 'elasticsearch',
          FLEET_ES_HOSTS: node.FLEET_ES_URL ?? '',
          FLEET_ES_SERVICE_TOKEN_FILE: node.FLEET_ES_SERVICE_TOKEN_FILE ?? '',
          FLEET_SQLITE_PATH: join(dir, 'fleet.db'),
          FLEET_ES_REQUEST_TIMEOUT_MS: '10000',
          ...env,
        },
      },
    ).store;
  const clientCert = () => ({ FLEET_ES_SSL_CERT_FILE: node.FLEET_ES_SSL_CERT_FILE ?? '', FLEET_ES_SSL_KEY_FILE: node.FLEET_ES_SSL_KEY_FILE ?? '' });

  /** Opens the store as a process does (degraded when Elasticsearch cannot be reached). */
  async function open(env: Record<string, string>): Promise<{ store: FleetStore & { notReadyReason?: string }; lines: ReturnType<typeof capturingLogger>['lines'] }> {
    const { logger, lines } = capturingLogger();
    const store = (await openStore(settings(env), logger)) as FleetStore & { notReadyReason?: string };
    opened.push(store);
    return { store, lines };
  }

  /** Opens the store requiring it ready: the error a refused connection gives. */
  async function openRequiringReady(env: Record<string, string>): Promise<Error> {
    const { logger } = capturingLogger();
    const config = settings(env).elasticsearch;
    const tls = await elasticsearchClientTls(config, logger);
    const token = readFileSync(config.serviceTokenFile, 'utf8').trim();
    return rejection(ElasticsearchFleetStore.open({ hosts: config.hosts, serviceToken: token, requestTimeoutMs: 10_000, ...(tls ? { tls } : {}) }), 30_000);
  }

  it('When the CA file (and the client certificate the node requires) are given, then the store is ready over HTTPS', async () => {
    const { store, lines } = await open({ FLEET_ES_SSL_CA_FILE: node.FLEET_ES_SSL_CA_FILE ?? '', ...clientCert() });
    expect(store.notReadyReason).to.equal(undefined);
    await store.ping();
    await store.agentPolicies.list({ page: 1, perPage: 1 });
    expect(lines.some((l) => l.msg === 'elasticsearch store ready')).to.equal(true);
  });

  it('When no CA is given, then the system CAs are used and the private CA is refused, naming Elasticsearch', async () => {
    const err = await openRequiringReady(clientCert());
    expect(err.message).to.match(/elasticsearch/i).and.to.match(/certificate/i);
    const { store, lines } = await open(clientCert());
    expect(store.notReadyReason).to.match(/certificate/i);
    expect(lines.some((l) => l.level === 'warn' && /certificate/i.test(l.reason ?? ''))).to.equal(true);
  });

  it('When the CA is the wrong one, then the store fails with a certificate error naming Elasticsearch', async () => {
    const err = await openRequiringReady({ FLEET_ES_SSL_CA_FILE: otherCa.certFile, ...clientCert() });
    expect(err.message).to.match(/elasticsearch/i).and.to.match(/certificate/i);
  });

  it('When only the CA fingerprint is given, then that CA is fetched, trusted and the store is ready; a wrong fingerprint fails the start', async () => {
    const { store, lines } = await open({ FLEET_ES_SSL_CA_TRUSTED_FINGERPRINT: node.FLEET_ES_CA_SHA256 ?? '', ...clientCert() });
    expect(store.notReadyReason).to.equal(undefined);
    await store.ping();
    expect(lines.some((l) => l.msg === 'elasticsearch: trusting the CA of caTrustedFingerprint')).to.equal(true);

    const wrong = 'ab'.repeat(32);
    const err = await rejection(open({ FLEET_ES_SSL_CA_TRUSTED_FINGERPRINT: wrong, ...clientCert() }));
    expect(err).to.be.instanceOf(CaFingerprintError);
    expect(err.message).to.match(/Elasticsearch/).and.to.match(/FLEET_ES_SSL_CA_TRUSTED_FINGERPRINT/);
  });

  it('When the node requires a client certificate, then the store is refused without one and with one from another CA', async function () {
    if (!clientAuthRequired()) this.skip();
    const ca = { FLEET_ES_SSL_CA_FILE: node.FLEET_ES_SSL_CA_FILE ?? '' };
    const none = await openRequiringReady(ca);
    expect(none.message).to.match(/elasticsearch not ready/i);
    const stranger = await openRequiringReady({ ...ca, FLEET_ES_SSL_CERT_FILE: strangerClient.certFile, FLEET_ES_SSL_KEY_FILE: strangerClient.keyFile });
    expect(stranger.message).to.match(/elasticsearch not ready/i);
  });

  it('When verification is none, then the node is used without its CA and the start warns', async () => {
    const { store, lines } = await open({ FLEET_ES_SSL_VERIFICATION_MODE: 'none', ...clientCert() });
    expect(store.notReadyReason).to.equal(undefined);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).to.include('TLS verification of Elasticsearch is off');
  });

  it('When a TLS file is missing or the settings do not fit the hosts, then the start fails with a ConfigError naming them', async () => {
    const missing = join(dir, 'missing-ca.pem');
    const err = await rejection(open({ FLEET_ES_SSL_CA_FILE: missing }));
    expect(err).to.be.instanceOf(ConfigError);
    expect(err.message).to.contain(missing).and.to.contain('store.elasticsearch.ssl.certificateAuthorities (FLEET_ES_SSL_CA_FILE)');
    const plain = await rejection(open({ FLEET_ES_HOSTS: 'http://127.0.0.1:9', FLEET_ES_SSL_CA_FILE: node.FLEET_ES_SSL_CA_FILE ?? '' }));
    expect(plain).to.be.instanceOf(ConfigError);
    expect(plain.message).to.match(/https/);
  });
});
