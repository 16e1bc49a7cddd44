import { ConfigError, elasticsearchClientTls, loadConfig, redisClientTls, type BusConfig, type ElasticsearchConfig, type Logger } from '@fleet/service-kit';
import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  composeEnvironment,
  LOCAL_ADDRESSING,
  localBackendAddressing,
  readEnvFile,
  replicaEnvironment,
  type LocalAddressing,
  type ServiceName,
} from '../../../deploy/topology/local-topology';
import { schemaLeaves, SERVICES } from '../../../scripts/config-reference';
import { composeContainerEnvironment, composeFleetServices, k8sContainerEnvironment, k8sFleetContainers, readCompose } from './support/deploy-model';
import { overlayNames, renderOverlay } from './support/deploy-tools';

const ENV_DIR = join(__dirname, '../../../deploy/env');
const SERVICE_NAMES: ServiceName[] = ['checkin-gateway', 'enrollment', 'policy-dispatcher'];

const serviceSchema = (service: ServiceName): object => {
  const entry = SERVICES.find((s) => s.name === service);
  if (!entry) throw new Error(`no schema for ${service}`);
  return entry.schema;
};
const silentLogger = { warn: () => undefined, info: () => undefined } as unknown as Logger;
/** ES and Redis client TLS of an environment as a replica builds them at start: a ConfigError, or the options. */
async function backendTls(service: ServiceName, env: Record<string, string>): Promise<{ es: unknown; redis: unknown } | ConfigError> {
  try {
    const config = loadConfig(serviceSchema(service), { env }) as unknown as { store: { elasticsearch: ElasticsearchConfig }; bus: BusConfig };
    return { es: await elasticsearchClientTls(config.store.elasticsearch, silentLogger), redis: redisClientTls(config.bus, silentLogger) };
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
}

const knownVariables = (service: ServiceName): Set<string> => {
  const entry = SERVICES.find((s) => s.name === service);
  if (!entry) throw new Error(`no schema for ${service}`);
  return new Set(schemaLeaves(entry.schema).flatMap((l) => (l.env ? [l.env] : [])));
};

describe('Deployment environment (deploy/env shared by docker-compose and the local runner; docker-compose.yml; k8s overlays)', function () {
  it('When a service reads its env files, then every variable set there is one its config schema knows', () => {
    for (const service of SERVICE_NAMES) {
      const known = knownVariables(service);
      const unknown = Object.keys(composeEnvironment(service)).filter((k) => !known.has(k));
      expect(unknown, `${service}: unknown variables`).to.deep.equal([]);
    }
  });

  it('When docker-compose.yml configures a Fleet replica, then every variable it sets (env_file and environment) is one its service schema knows', () => {
    const fleet = composeFleetServices(readCompose());
    expect(fleet.map((f) => f.service)).to.include.members(SERVICE_NAMES);
    for (const { name, service, spec } of fleet) {
      const known = knownVariables(service);
      const unknown = Object.keys(composeContainerEnvironment(spec)).filter((k) => !known.has(k));
      expect(unknown, `${name} (${service}): unknown variables`).to.deep.equal([]);
    }
  });

  it('When a kustomize overlay configures a Fleet container, then every variable it gets (env and envFrom ConfigMaps) is one its service schema knows', function () {
    // Renders k8s/overlays/* with kustomize, built on the first run (see support/deploy-tools.ts).
    this.timeout(600_000);
    for (const overlay of overlayNames()) {
      const objects = renderOverlay(overlay);
      const containers = k8sFleetContainers(objects);
      expect(containers.map((c) => c.service).sort(), overlay).to.deep.equal([...SERVICE_NAMES].sort());
      for (const { service, container } of containers) {
        const known = knownVariables(service);
        const env = k8sContainerEnvironment(objects, container);
        expect(env, `${overlay} ${service}: the ConfigMaps reach the container`).to.include({ FLEET_STORE_BACKEND: 'elasticsearch', FLEET_BUS_BACKEND: 'redis' });
        const unknown = Object.keys(env).filter((k) => !known.has(k));
        expect(unknown, `${overlay} ${service}: unknown variables`).to.deep.equal([]);
      }
    }
  });

  it('When the local runner builds a replica environment, then it differs from the compose one only in the addressing keys', () => {
    const local = Object.fromEntries(LOCAL_ADDRESSING.map((k) => [k, `local-${k}`])) as LocalAddressing;
    for (const service of SERVICE_NAMES) {
      const compose = composeEnvironment(service);
      const replica = replicaEnvironment(service, local);
      const differing = Object.keys({ ...compose, ...replica }).filter((k) => compose[k] !== replica[k]);
      expect(differing.every((k) => (LOCAL_ADDRESSING as readonly string[]).includes(k)), differing.join(', ')).to.equal(true);
      // The scale-out essentials come from the shared file, not from the runner.
      expect(replica).to.include({ FLEET_STORE_BACKEND: 'elasticsearch', FLEET_BUS_BACKEND: 'redis', FLEET_JOBS_BACKEND: 'bullmq' });
    }
  });

  it('When the local runner points the replicas at its plain Elasticsearch and Redis, then the compose TLS files are cleared and no ConfigError arises (there would be one without)', async () => {
    const plain = { elasticsearch: { url: 'http://127.0.0.1:9200', serviceTokenFile: '/tmp/fleet-token' }, redisUrl: 'redis://127.0.0.1:6379' };
    const backends = localBackendAddressing(plain);
    expect(backends).to.include({ FLEET_ES_SSL_CA_FILE: '', FLEET_REDIS_TLS_CA_FILE: '', FLEET_REDIS_TLS_CERT_FILE: '', FLEET_REDIS_TLS_KEY_FILE: '' });
    expect(Object.keys(backends).filter((k) => !(LOCAL_ADDRESSING as readonly string[]).includes(k)), 'only addressing keys').to.deep.equal([]);
    // What startTopology gives every replica (loopback listeners, local files).
    const local: LocalAddressing = {
      FLEET_HTTP_HOST: '127.0.0.1',
      FLEET_HTTP_PORT: '18231',
      FLEET_HTTP_TRUST_PROXY: '127.0.0.1',
      FLEET_METRICS_HOST: '127.0.0.1',
      FLEET_METRICS_PORT: '19231',
      FLEET_REPLICA_ID: 'replica-1',
      FLEET_SQLITE_PATH: '/tmp/fleet-topology/fleet.db',
      FLEET_PUBLIC_URLS: 'https://127.0.0.1:8220',
      FLEET_TLS_CERT_FILE: '/tmp/fleet-topology/tls/server.crt',
      FLEET_TLS_KEY_FILE: '/tmp/fleet-topology/tls/server.key',
      FLEET_TLS_CLIENT_CA_FILE: '/tmp/fleet-topology/tls/ca.crt',
      ...backends,
    };
    for (const service of SERVICE_NAMES) {
      const compose = composeEnvironment(service);
      // The compose files do set them (TLS-only Elasticsearch and Redis): the runner must clear them.
      expect(compose['FLEET_ES_SSL_CA_FILE'], service).to.be.a('string').and.not.equal('');
      expect(compose['FLEET_REDIS_TLS_CA_FILE'], service).to.be.a('string').and.not.equal('');
      const replica = replicaEnvironment(service, local);
      expect(replica, service).to.include({ FLEET_ES_HOSTS: plain.elasticsearch.url, FLEET_REDIS_URL: plain.redisUrl });
      const tls = await backendTls(service, replica);
      expect(tls instanceof ConfigError ? tls.message : tls, service).to.deep.equal({ es: undefined, redis: undefined });
      // The compose TLS files with the plain local URLs: refused (what clearing them avoids).
      for (const leftOver of ['FLEET_ES_SSL_CA_FILE', 'FLEET_REDIS_TLS_CA_FILE'] as const) {
        const refused = await backendTls(service, { ...replica, [leftOver]: compose[leftOver]! });
        expect(refused, `${service} with ${leftOver} left`).to.be.instanceOf(ConfigError);
      }
    }
    // An https Elasticsearch keeps its CA; a plain one never gets one.
    expect(localBackendAddressing({ ...plain, elasticsearch: { url: 'https://127.0.0.1:9200', serviceTokenFile: '', caFile: '/tmp/ca.crt' } }).FLEET_ES_SSL_CA_FILE).to.equal('/tmp/ca.crt');
    expect(localBackendAddressing({ ...plain, elasticsearch: { ...plain.elasticsearch, caFile: '/tmp/ca.crt' } }).FLEET_ES_SSL_CA_FILE).to.equal('');
    // Without an Elasticsearch (the embedded store), the same plain defaults.
    expect(localBackendAddressing({ redisUrl: plain.redisUrl })).to.include({ FLEET_ES_HOSTS: 'http://127.0.0.1:9200', FLEET_ES_SSL_CA_FILE: '' });
  });

  it('When an env file has a line that is not KEY=VALUE, then reading it fails with the line number', () => {
    for (const f of readdirSync(ENV_DIR).filter((n) => n.endsWith('.env'))) expect(() => readEnvFile(join(ENV_DIR, f))).to.not.throw();
    expect(() => readEnvFile(join(__dirname, 'deploy-environment.test.ts'))).to.throw(/deploy-environment\.test\.ts:1: expected KEY=VALUE/);
  });
});
