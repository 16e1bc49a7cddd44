import { JobQueueUnavailableError, type FleetJobs, type JobHandlers, type JobQueue } from '@fleet/background-jobs';
import type { NotificationBus, NotificationEnvelope } from '@fleet/notifications';
import { openBus, openJobQueue, openStore } from '@fleet/runtime';
import { busSchema, ConfigError, jobsSchema, loadConfig, redisClientTls, storeSchema } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import { expect } from 'chai';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa, issueTestCertificate, type CertificateFiles } from './support/certificate-files';
import { startTlsRedis, type TlsRedisServer } from '../../notifications/test/support/tls-redis-server';
import { capturingLogger, eventually, rejection } from './support/test-helpers';

const notification = (agent: string) => ({ kind: 'agent-revoked' as const, agent_id: agent, api_key_ids: [] });

function recordingHandlers(runs: string[]): JobHandlers {
  const done = (what: string) => {
    runs.push(what);
    return Promise.resolve({ ran: 1 });
  };
  return {
    'revoke-api-keys': (d: FleetJobs['revoke-api-keys']) => done(`revoke ${d.api_key_ids.join(',')}`),
    'retire-output-keys': (d) => done(`retire ${d.agent_id}`),
    'gc-expired-actions': () => done('gc'),
    'sweep-inactive-agents': () => done('sweep'),
    'expire-abandoned-uploads': () => done('expire'),
    'sample-agent-status': () => done('sample'),
  };
}

describe('TLS from a process to Redis: the bus and BullMQ (TLS-only redis-server)', function () {
  this.timeout(30_000);
  let dir: string;
  let ca: CertificateFiles;
  let otherCa: CertificateFiles;
  let client: CertificateFiles;
  /** Signed by `ca`, requires a client certificate signed by `ca`. */
  let verified: TlsRedisServer;
  /** A self-signed certificate, no client certificate asked for. */
  let selfSigned: TlsRedisServer;
  /** Signed by `ca` for another host name than the one it is reached by (127.0.0.1). */
  let misnamed: TlsRedisServer;
  /** The client key, encrypted, and the file with its passphrase. */
  let encryptedKey: { keyFile: string; passphraseFile: string };
  let store: FleetStore;
  const opened: { close(): Promise<void> }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-redis-tls-test-'));
    ca = createTestCa(dir, 'redis-ca');
    otherCa = createTestCa(dir, 'other-ca');
    const server = issueTestCertificate(ca, dir, 'redis-server', { usage: 'server', hosts: ['localhost', '127.0.0.1'] });
    client = issueTestCertificate(ca, dir, 'fleet-client', { usage: 'client' });
    const lone = createTestCa(dir, 'self-signed-redis');
    const elsewhere = issueTestCertificate(ca, dir, 'redis-elsewhere', { usage: 'server', hosts: ['redis.elsewhere.test'] });
    encryptedKey = { keyFile: join(dir, 'fleet-client.enc.key'), passphraseFile: join(dir, 'passphrase') };
    writeFileSync(encryptedKey.passphraseFile, 'correct horse battery staple\n');
    const encrypted = createPrivateKey(client.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse battery staple' });
    writeFileSync(encryptedKey.keyFile, encrypted, { mode: 0o600 });
    verified = await startTlsRedis({ ...server, caFile: ca.certFile, authClients: 'yes' });
    selfSigned = await startTlsRedis({ ...lone, caFile: lone.certFile, authClients: 'no' });
    misnamed = await startTlsRedis({ ...elsewhere, caFile: ca.certFile, authClients: 'no' });
    const { logger } = capturingLogger();
    store = await openStore(loadConfig({ store: storeSchema }, { env: { FLEET_SQLITE_PATH: join(dir, 'fleet.db') } }).store, logger);
  });

  after(async () => {
    await store?.close();
    await verified?.stop();
    await selfSigned?.stop();
    await misnamed?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((r) => r.close()));
  });

  /** The bus and jobs settings as a process reads them from its environment. */
  const settings = (env: Record<string, string>) =>
    loadConfig(
      { bus: busSchema, jobs: jobsSchema },
      {
        env: {
          FLEET_BUS_BACKEND: 'redis',
          FLEET_JOBS_BACKEND: 'bullmq',
          FLEET_BUS_CHANNEL: `tls-${Math.random().toString(36).slice(2)}`,
          FLEET_JOBS_QUEUE: `tls-jobs-${Math.random().toString(36).slice(2)}`,
          FLEET_BUS_POLICY_DEBOUNCE_MS: '0',
          ...env,
        },
      },
    );
  const withClientCert = () => ({ FLEET_REDIS_TLS_CERT_FILE: client.certFile, FLEET_REDIS_TLS_KEY_FILE: client.keyFile });

  async function bus(env: Record<string, string>, logger = capturingLogger().logger): Promise<NotificationBus> {
    const config = settings(env).bus;
    const b = await openBus(config, logger, redisClientTls(config, logger));
    opened.push(b);
    return b;
  }

  async function roundTrip(env: Record<string, string>): Promise<void> {
    const config = settings(env);
    const { logger } = capturingLogger();
    const a = await openBus(config.bus, logger, redisClientTls(config.bus, logger));
    opened.push(a);
    const b = await openBus(config.bus, logger, redisClientTls(config.bus, logger));
    opened.push(b);
    const got: NotificationEnvelope[] = [];
    b.subscribe((e) => got.push(e));
    await a.publish(notification('agent-over-tls'));
    await eventually(() => got.length === 1, 5_000);
    expect(got[0]?.notification).to.deep.equal(notification('agent-over-tls'));
  }

  it('When the CA and a client certificate are given for a rediss:// URL, then notifications cross between two buses', async () => {
    await roundTrip({ FLEET_REDIS_URL: verified.url, FLEET_REDIS_TLS_CA_FILE: ca.certFile, ...withClientCert() });
  });

  it('When no CA is given, then the system CAs are used and the private CA is refused (verification is not off)', async () => {
    const err = await rejection(bus({ FLEET_REDIS_URL: verified.url, ...withClientCert() }));
    expect(err.message).to.match(/redis/i).and.to.match(/certificate/i);
  });

  it('When Redis requires a client certificate and none is configured, then the bus fails to start with an error, not a hang', async () => {
    const err = await rejection(bus({ FLEET_REDIS_URL: verified.url, FLEET_REDIS_TLS_CA_FILE: ca.certFile }));
    expect(err.message).to.match(/redis/i);
  });

  it('When the CA is the wrong one, then the bus fails to start with a certificate error naming Redis', async () => {
    const started = Date.now();
    const err = await rejection(bus({ FLEET_REDIS_URL: verified.url, FLEET_REDIS_TLS_CA_FILE: otherCa.certFile, ...withClientCert() }));
    expect(err.message).to.match(/redis/i).and.to.match(/certificate/i);
    expect(Date.now() - started).to.be.below(5_000);
  });

  it('When verification is none, then a self-signed Redis is accepted and the start warns; with the default (full) it is refused', async () => {
    const { logger, lines } = capturingLogger();
    const config = settings({ FLEET_REDIS_URL: selfSigned.url, FLEET_REDIS_TLS_VERIFICATION_MODE: 'none' });
    const a = await openBus(config.bus, logger, redisClientTls(config.bus, logger));
    opened.push(a);
    const got: NotificationEnvelope[] = [];
    a.subscribe((e) => got.push(e));
    await a.publish(notification('unverified'));
    await eventually(() => got.length === 1, 5_000);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).to.include('TLS verification of Redis is off');

    const err = await rejection(bus({ FLEET_REDIS_URL: selfSigned.url }));
    expect(err.message).to.match(/certificate/i);
  });

  it('When the certificate names another host, then full verification refuses it and certificate (chain only) accepts it', async () => {
    const err = await rejection(bus({ FLEET_REDIS_URL: misnamed.url, FLEET_REDIS_TLS_CA_FILE: ca.certFile }));
    expect(err.message).to.match(/redis/i).and.to.match(/IP: 127\.0\.0\.1 is not in the cert's list/);
    await roundTrip({ FLEET_REDIS_URL: misnamed.url, FLEET_REDIS_TLS_CA_FILE: ca.certFile, FLEET_REDIS_TLS_VERIFICATION_MODE: 'certificate' });
    // The chain is still checked in that mode.
    const stranger = await rejection(bus({ FLEET_REDIS_URL: misnamed.url, FLEET_REDIS_TLS_CA_FILE: otherCa.certFile, FLEET_REDIS_TLS_VERIFICATION_MODE: 'certificate' }));
    expect(stranger.message).to.match(/certificate/i);
  });

  it('When the job queue runs on TLS Redis with the CA and a client certificate, then a job enqueued by one replica runs on another', async () => {
    // The client key is encrypted; its passphrase comes from a file.
    const config = settings({
      FLEET_REDIS_URL: verified.url,
      FLEET_REDIS_TLS_CA_FILE: ca.certFile,
      FLEET_REDIS_TLS_CERT_FILE: client.certFile,
      FLEET_REDIS_TLS_KEY_FILE: encryptedKey.keyFile,
      FLEET_REDIS_TLS_KEY_PASSPHRASE_FILE: encryptedKey.passphraseFile,
    });
    const { logger } = capturingLogger();
    const redisTls = redisClientTls(config.bus, logger);
    const open = (): JobQueue => {
      const q = openJobQueue(config.jobs, { redisUrl: config.bus.redisUrl, redisTls, store, logger });
      opened.push(q);
      return q;
    };
    const [worker, producer] = [open(), open()];
    const runs: string[] = [];
    await worker.startWorker(recordingHandlers(runs), {});
    // No inline fallback for this job: it can only run through Redis.
    await producer.enqueue('gc-expired-actions', {});
    await producer.enqueue('revoke-api-keys', { api_key_ids: ['k1'], reason: 'unenrolled' });
    await eventually(() => runs.length === 2, 10_000);
    expect(runs.sort()).to.deep.equal(['gc', 'revoke k1']);
    expect(producer.connectionStates()).to.deep.equal({ 'jobs-producer': true });
  });

  it('When the job queue is given the wrong CA, then an enqueue fails fast and the log names the certificate problem', async () => {
    const config = settings({ FLEET_REDIS_URL: verified.url, FLEET_REDIS_TLS_CA_FILE: otherCa.certFile, ...withClientCert() });
    const { logger, lines } = capturingLogger();
    const queue = openJobQueue(config.jobs, { redisUrl: config.bus.redisUrl, redisTls: redisClientTls(config.bus, logger), store, logger });
    opened.push(queue);
    const err = await rejection(queue.enqueue('gc-expired-actions', {}), 5_000);
    expect(err).to.be.instanceOf(JobQueueUnavailableError);
    await eventually(() => lines.some((l) => l.msg === 'job queue: redis error' && /certificate/i.test(l.reason ?? '')), 5_000);
  });

  it('When a TLS file is missing, unreadable, or does not fit, then the start fails with a ConfigError naming the file and the setting', () => {
    const { logger } = capturingLogger();
    const missing = join(dir, 'no-such-ca.crt');
    const tls = (env: Record<string, string>) => () => redisClientTls(settings({ FLEET_REDIS_URL: verified.url, ...env }).bus, logger);
    expect(tls({ FLEET_REDIS_TLS_CA_FILE: missing })).to.throw(ConfigError, /bus\.redisTls\.caFile \(FLEET_REDIS_TLS_CA_FILE\).*no-such-ca\.crt/);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    expect(tls({ FLEET_REDIS_TLS_CA_FILE: garbage })).to.throw(ConfigError, /FLEET_REDIS_TLS_CA_FILE.*garbage\.pem.*no PEM certificate/);
    expect(tls({ FLEET_REDIS_TLS_CERT_FILE: client.certFile, FLEET_REDIS_TLS_KEY_FILE: otherCa.keyFile })).to.throw(
      ConfigError,
      /fleet-client\.crt.*FLEET_REDIS_TLS_CERT_FILE.*other-ca\.key.*FLEET_REDIS_TLS_KEY_FILE/,
    );
    expect(tls({ FLEET_REDIS_TLS_CERT_FILE: client.certFile })).to.throw(ConfigError, /FLEET_REDIS_TLS_KEY_FILE/);
    const wrongPassphrase = join(dir, 'wrong-passphrase');
    writeFileSync(wrongPassphrase, 'not it\n');
    expect(tls({ FLEET_REDIS_TLS_CERT_FILE: client.certFile, FLEET_REDIS_TLS_KEY_FILE: encryptedKey.keyFile, FLEET_REDIS_TLS_KEY_PASSPHRASE_FILE: wrongPassphrase })).to.throw(
      ConfigError,
      /fleet-client\.enc\.key.*FLEET_REDIS_TLS_KEY_FILE/,
    );
    // A CA given for a plain redis:// URL would silently not be used.
    expect(() => redisClientTls(settings({ FLEET_REDIS_URL: 'redis://127.0.0.1:6379', FLEET_REDIS_TLS_CA_FILE: ca.certFile }).bus, logger)).to.throw(
      ConfigError,
      /rediss:\/\//,
    );
  });
});
