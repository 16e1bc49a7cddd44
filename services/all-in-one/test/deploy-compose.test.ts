import { elasticsearchClientTls, loadConfig, redisClientTls, type BusConfig, type ElasticsearchConfig, type Logger } from '@fleet/service-kit';
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { connect, createServer, type ConnectionOptions } from 'node:tls';
import { basename, join } from 'node:path';
import {
  CERT_FILES,
  COMPOSE_ELASTICSEARCH_HOST,
  COMPOSE_REDIS_HOST,
  COMPOSE_REPLICA_HOSTS,
  generateDeploymentCertificates,
  REPLICA_TLS_NAME,
} from '../../../deploy/tls/generate-certs';
import { startTlsRedis } from '../../../libs/notifications/test/support/tls-redis-server';
import { adminDelete } from '../../../libs/store/test/support/elasticsearch-env';
import { SERVICES } from '../../../scripts/config-reference';
import { composeEnvironment } from '../../../deploy/topology/local-topology';
import {
  COMPOSE_FILE,
  composeContainerEnvironment,
  composeDependsOn,
  composeEnvFiles,
  composeEnvironmentBlock,
  composeFleetServices,
  composeMounts,
  composeSecretMounts,
  readCompose,
  schemaDefault,
  type ComposeModel,
} from './support/deploy-model';
import { composeSchemaErrors, interpolate, loadCompose } from './support/deploy-schemas';
import { COMPOSE_SPEC, composeSpecSchemaPath, JAEGER, REPO_ROOT } from './support/deploy-tools';

const HAPROXY_CFG = join(REPO_ROOT, 'deploy', 'haproxy', 'haproxy.cfg');

/** Compose durations as seconds (`30s`, `1m30s`, `2m`). */
function durationSeconds(text: string): number {
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit as 'ms' | 's' | 'm' | 'h'];
  return total;
}

/** An IPv4 address as a number, and whether it lies in a CIDR. */
const ipv4 = (a: string): number => a.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
function inCidr(address: string, cidr: string): boolean {
  const [base = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(address) / size) === Math.floor(ipv4(base) / size);
}

const deepCopy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Where Elasticsearch's image resolves the relative paths of its settings. */
const ES_CONFIG_DIR = '/usr/share/elasticsearch/config';

/** The file (basename, as `npm run tls:certs` names it) of the compose secret a service mounts at `path`, if any. */
function secretFileAt(model: ComposeModel, spec: ComposeModel['services'][string], path: string | undefined): string | undefined {
  const mount = composeSecretMounts(spec).find((m) => m.path === path);
  const file = mount && model.secrets?.[mount.source]?.file;
  return file ? basename(file) : undefined;
}

/** Every string in a value (a compose model, an environment), with where it is. */
function strings(value: unknown, where = ''): [string, string][] {
  if (typeof value === 'string') return [[where, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${where}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => strings(v, `${where}/${k}`));
  return [];
}

/** URLs (any scheme) naming the compose Elasticsearch or Redis, or the published ES port. */
const BACKEND_URL = /\b([a-z]+):\/\/(elasticsearch|redis|localhost:9200|127\.0\.0\.1:9200)\b/g;

describe('docker-compose.yml (Compose Specification schema, and what the stack needs to work)', function () {
  // The first run fetches the schema with `go mod download` (cached afterwards).
  this.timeout(600_000);
  let model: ComposeModel;

  before(() => {
    composeSpecSchemaPath();
    model = readCompose();
  });

  it(`When docker-compose.yml is checked against the Compose Specification (compose-go ${COMPOSE_SPEC.version}), then it is valid`, () => {
    expect(composeSchemaErrors(model)).to.deep.equal([]);
  });

  it('When a compose file breaks the specification, then the schema check rejects it', () => {
    const mutations: [string, (m: ComposeModel) => void][] = [
      ['an unknown service key', (m) => (m.services['gateway-1']!['restart_policy'] = 'always')],
      ['an unknown depends_on condition', (m) => (m.services['gateway-1']!.depends_on = { redis: { condition: 'service_ready' } })],
      ['a healthcheck test of the wrong type', (m) => (m.services['redis']!.healthcheck = { test: 42 as unknown as string })],
      ['a volume that is a number', (m) => (m.services['dispatcher-1']!.volumes = [5 as unknown as string])],
    ];
    for (const [what, mutate] of mutations) {
      const broken = deepCopy(model);
      mutate(broken);
      expect(composeSchemaErrors(broken), what).to.not.be.empty;
    }
    // And a YAML-level break: a service that is a list.
    const text = readFileSync(COMPOSE_FILE, 'utf8');
    expect(text).to.contain('\n  redis:\n    image:');
    const asList = loadCompose(text.replace('\n  redis:\n    image:', '\n  redis:\n    - oops\n  redis-old:\n    image:'));
    expect(composeSchemaErrors(asList).join('\n')).to.contain('/services/redis ');
  });

  it('When variables are interpolated, then defaults, overrides and $$ behave as in Compose', () => {
    expect(interpolate('${A:-x}/${B-y}/$$C/${D}', { B: '' })).to.equal('x//$C/');
    expect(interpolate('${A:-x}', { A: 'set' })).to.equal('set');
    expect(() => interpolate('${A:?needed}', {})).to.throw(/A is not set/);
    const overridden = loadCompose(readFileSync(COMPOSE_FILE, 'utf8'), { FLEET_PORT: '9000' }) as ComposeModel;
    expect(overridden.services['haproxy']!.ports).to.deep.equal(['9000:8220']);
  });

  it('When compose starts a Fleet replica, then it builds the service target and reads the env files the local runner reads', () => {
    const fleet = composeFleetServices(model);
    expect(fleet.map((f) => f.name).sort()).to.deep.equal(['dispatcher-1', 'dispatcher-2', 'enrollment-1', 'enrollment-2', 'gateway-1', 'gateway-2', 'gateway-3']);
    for (const { name, service, spec } of fleet) {
      expect(spec.build?.dockerfile, name).to.equal('deploy/docker/Dockerfile');
      expect(composeEnvFiles(spec), name).to.deep.equal(['deploy/env/services.env', `deploy/env/${service}.env`]);
      // Everything from the files reaches the container unchanged; environment: only adds.
      const files = composeEnvironment(service);
      const block = composeEnvironmentBlock(spec);
      expect(Object.keys(block).filter((k) => k in files), `${name} overrides its env files`).to.deep.equal([]);
      expect(block['FLEET_REPLICA_ID'], name).to.equal(name);
    }
  });

  it("When the dispatchers write fleet.hosts into policies, then it is haproxy's published HTTPS address, where agents go after enrolling", () => {
    const [published] = (model.services['haproxy']!.ports ?? []) as string[];
    const hostPort = String(published).split(':')[0];
    for (const { name, spec } of composeFleetServices(model).filter((f) => f.service === 'policy-dispatcher')) {
      const url = new URL(composeContainerEnvironment(spec)['FLEET_PUBLIC_URLS'] ?? '');
      expect(url.protocol, name).to.equal('https:');
      expect(url.port, name).to.equal(hostPort);
    }
  });

  it('When haproxy routes to the replicas, then every server it names is a compose replica of that backend on its HTTP port', () => {
    const cfg = readFileSync(HAPROXY_CFG, 'utf8');
    const lb = model.services['haproxy']!;
    const lbEnv = composeEnvironmentBlock(lb);
    // Every variable haproxy.cfg reads without a default is set.
    const required = [...cfg.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]!);
    expect(required.filter((v) => !lbEnv[v])).to.deep.equal([]);
    expect(lbEnv['FLEET_LB_BIND']).to.match(/:8220$/);
    expect(lb.ports).to.deep.equal(['8220:8220']);
    const mounts = composeMounts(lb);
    expect(mounts).to.deep.include({ source: './deploy/haproxy/haproxy.cfg', target: '/usr/local/etc/haproxy/haproxy.cfg', readOnly: true });

    const fleet = composeFleetServices(model);
    const backends: [RegExp, string][] = [
      [/^FLEET_GATEWAY_\d$/, 'checkin-gateway'],
      [/^FLEET_ENROLLMENT_\d$/, 'enrollment'],
      [/^FLEET_DISPATCHER_\d$/, 'policy-dispatcher'],
    ];
    const targets = new Set<string>();
    for (const [pattern, service] of backends) {
      for (const [key, value] of Object.entries(lbEnv).filter(([k]) => pattern.test(k))) {
        const [host = '', port = ''] = value.split(':');
        const replica = fleet.find((f) => f.name === host);
        expect(replica?.service, `${key}=${value}`).to.equal(service);
        expect(composeContainerEnvironment(replica!.spec)['FLEET_HTTP_PORT'], `${key}=${value}`).to.equal(port);
        targets.add(host);
      }
    }
    // Every replica is behind haproxy, and haproxy starts after them (their names resolve).
    expect([...targets].sort()).to.deep.equal(fleet.map((f) => f.name).sort());
    expect(Object.keys(composeDependsOn(lb)).sort()).to.deep.equal([...targets].sort());
  });

  it("When the replicas trust X-Forwarded-For, then the trusted address is haproxy's fixed address, inside the network but outside the dynamic range", () => {
    const trusted = composeEnvironment('checkin-gateway')['FLEET_HTTP_TRUST_PROXY'];
    const lbNetworks = model.services['haproxy']!.networks as Record<string, { ipv4_address?: string }>;
    const [networkName, attachment] = Object.entries(lbNetworks)[0]!;
    expect(attachment.ipv4_address).to.equal(trusted);
    const ipam = model.networks?.[networkName]?.ipam?.config?.[0];
    expect(ipam?.subnet).to.be.a('string');
    expect(inCidr(trusted!, ipam!.subnet!), 'in the subnet').to.equal(true);
    expect(inCidr(trusted!, ipam!.ip_range!), 'outside the dynamic range').to.equal(false);
    // Only haproxy has a fixed address; every other service is on the same (default) network.
    for (const [name, spec] of Object.entries(model.services)) if (name !== 'haproxy') expect(spec.networks, name).to.equal(undefined);
  });

  it('When TLS is on every hop, then every certificate file the replicas and haproxy are configured with is a compose secret they mount, from the files `npm run tls:certs` writes', () => {
    const secrets = model.secrets ?? {};
    expect(Object.keys(secrets)).to.not.be.empty;
    for (const [name, secret] of Object.entries(secrets)) {
      expect(secret.file, `secret ${name}`).to.match(/^\.\/data\/tls\/[^/]+$/);
      expect(Object.values(CERT_FILES), `secret ${name}`).to.include(basename(secret.file!));
    }
    // FLEET_TLS_DIR moves them all (your own certificates).
    const own = loadCompose(readFileSync(COMPOSE_FILE, 'utf8'), { FLEET_TLS_DIR: '/etc/fleet-tls' }) as ComposeModel;
    expect(Object.values(own.secrets ?? {}).every((s) => s.file?.startsWith('/etc/fleet-tls/'))).to.equal(true);

    const used = new Set<string>();
    const isSecretFile = (where: string, spec: ComposeModel['services'][string], path: string | undefined, certFile: string): void => {
      const mount = composeSecretMounts(spec).find((m) => m.path === path);
      expect(mount, `${where}: ${path} is a secret it mounts`).to.not.equal(undefined);
      expect(basename(secrets[mount!.source]?.file ?? ''), `${where}: ${path}`).to.equal(certFile);
      used.add(mount!.source);
    };
    for (const { name, spec } of composeFleetServices(model)) {
      const env = composeContainerEnvironment(spec);
      expect(env, name).to.include({ FLEET_TLS_MODE: 'files', FLEET_TLS_CLIENT_AUTH: 'required' });
      isSecretFile(name, spec, env['FLEET_TLS_CERT_FILE'], CERT_FILES.serverCert);
      isSecretFile(name, spec, env['FLEET_TLS_KEY_FILE'], CERT_FILES.serverKey);
      isSecretFile(name, spec, env['FLEET_TLS_CLIENT_CA_FILE'], CERT_FILES.ca);
      // Its certificate names it (haproxy resolves the service name), and the name haproxy checks.
      expect(COMPOSE_REPLICA_HOSTS, name).to.include(name);
    }
    const lb = model.services['haproxy']!;
    const lbEnv = composeEnvironmentBlock(lb);
    isSecretFile('haproxy', lb, lbEnv['FLEET_LB_CERT'], CERT_FILES.lbPem);
    isSecretFile('haproxy', lb, lbEnv['FLEET_LB_CLIENT_CA'], CERT_FILES.agentsCa);
    isSecretFile('haproxy', lb, lbEnv['FLEET_LB_BACKEND_CA'], CERT_FILES.ca);
    isSecretFile('haproxy', lb, lbEnv['FLEET_LB_BACKEND_CERT'], CERT_FILES.proxyClientPem);
    expect(lbEnv['FLEET_LB_BACKEND_NAME']).to.equal(REPLICA_TLS_NAME);
    expect(lbEnv['FLEET_LB_CLIENT_AUTH']).to.equal('optional');
    const required = loadCompose(readFileSync(COMPOSE_FILE, 'utf8'), { FLEET_LB_CLIENT_AUTH: 'required' }) as ComposeModel;
    expect(composeEnvironmentBlock(required.services['haproxy']!)['FLEET_LB_CLIENT_AUTH']).to.equal('required');
    // Elasticsearch's HTTPS files, in its config directory (its settings' paths are relative to it).
    const es = model.services['elasticsearch']!;
    const esEnv = composeEnvironmentBlock(es);
    const esPath = (setting: string) => `${ES_CONFIG_DIR}/${esEnv[setting] ?? ''}`;
    isSecretFile('elasticsearch', es, esPath('xpack.security.http.ssl.certificate'), CERT_FILES.esCert);
    isSecretFile('elasticsearch', es, esPath('xpack.security.http.ssl.key'), CERT_FILES.esKey);
    isSecretFile('elasticsearch', es, esPath('xpack.security.http.ssl.certificate_authorities'), CERT_FILES.ca);
    // Redis's TLS files, as its command line names them.
    const redis = model.services['redis']!;
    const redisArgs = redis['command'] as string[];
    const redisArg = (flag: string) => redisArgs[redisArgs.indexOf(flag) + 1];
    isSecretFile('redis', redis, redisArg('--tls-cert-file'), CERT_FILES.redisCert);
    isSecretFile('redis', redis, redisArg('--tls-key-file'), CERT_FILES.redisKey);
    isSecretFile('redis', redis, redisArg('--tls-ca-cert-file'), CERT_FILES.ca);
    expect([...used].sort(), 'every secret is used').to.deep.equal(Object.keys(secrets).sort());
    // Compose mounts the secrets under /run/secrets: no volume may sit there (the secrets would be
    // hidden, or their mount points could not be made in a read-only volume).
    for (const [name, spec] of Object.entries(model.services)) {
      for (const m of composeMounts(spec)) expect(m.target === '/run/secrets' || m.target.startsWith('/run/secrets/'), `${name} mounts ${m.source} at ${m.target}`).to.equal(false);
    }

    // haproxy.cfg: TLS on the public port and towards every server, and only its own ssl-client-* headers.
    const cfg = readFileSync(HAPROXY_CFG, 'utf8');
    expect(cfg).to.match(/^\s*bind "\$\{FLEET_LB_BIND\}" ssl crt "\$\{FLEET_LB_CERT\}" ca-file "\$\{FLEET_LB_CLIENT_CA\}" verify "\$\{FLEET_LB_CLIENT_AUTH-optional\}"/m);
    const backends = cfg.split(/^backend /m).slice(1);
    expect(backends).to.have.length(3);
    for (const b of backends) expect(b, b.split('\n')[0]).to.match(/default-server .*\bssl verify required ca-file "\$\{FLEET_LB_BACKEND_CA\}" .*crt "\$\{FLEET_LB_BACKEND_CERT\}" check-ssl/);
    for (const header of ['ssl-client-verify', 'ssl-client-subject-dn', 'ssl-client-issuer-dn']) {
      const del = cfg.indexOf(`http-request del-header ${header}`);
      expect(del, header).to.be.greaterThan(0);
      expect(cfg.indexOf(`http-request set-header ${header}`), header).to.be.greaterThan(del);
    }
  });

  it('When the replicas and the token one-shot talk to Elasticsearch and Redis, then only over TLS (https://, rediss://), checking the server against a CA file they mount', () => {
    // Every URL of Elasticsearch or Redis anywhere in the compose file and the env files.
    const sources: [string, unknown][] = [['docker-compose.yml', model]];
    for (const { name, spec } of composeFleetServices(model)) sources.push([`${name} environment`, composeContainerEnvironment(spec)]);
    const urls = sources.flatMap(([source, value]) => strings(value).flatMap(([where, text]) => [...text.matchAll(BACKEND_URL)].map((m) => ({ at: `${source} ${where}`, scheme: m[1]!, host: m[2]! }))));
    expect(urls.filter((u) => u.host.startsWith('elasticsearch')).length, 'Elasticsearch URLs found').to.be.greaterThan(0);
    expect(urls.filter((u) => u.host === 'redis').length, 'Redis URLs found').to.be.greaterThan(0);
    for (const u of urls) expect(u.scheme, `${u.at}: ${u.scheme}://${u.host}`).to.equal(u.host === 'redis' ? 'rediss' : 'https');

    for (const { name, service, spec } of composeFleetServices(model)) {
      const env = composeContainerEnvironment(spec);
      const esHosts = (env['FLEET_ES_HOSTS'] ?? '').split(',').map((h) => new URL(h.trim()));
      expect(esHosts.map((h) => `${h.protocol}//${h.hostname}`), name).to.deep.equal([`https://${COMPOSE_ELASTICSEARCH_HOST}`]);
      expect(model.services, name).to.have.property(COMPOSE_ELASTICSEARCH_HOST);
      expect(secretFileAt(model, spec, env['FLEET_ES_SSL_CA_FILE']), `${name}: FLEET_ES_SSL_CA_FILE is the internal CA, mounted`).to.equal(CERT_FILES.ca);
      expect(env['FLEET_ES_SSL_VERIFICATION_MODE'] ?? 'full', name).to.equal('full');
      const redisUrl = new URL(env['FLEET_REDIS_URL'] ?? '');
      expect(`${redisUrl.protocol}//${redisUrl.hostname}`, name).to.equal(`rediss://${COMPOSE_REDIS_HOST}`);
      expect(model.services, name).to.have.property(COMPOSE_REDIS_HOST);
      expect(secretFileAt(model, spec, env['FLEET_REDIS_TLS_CA_FILE']), `${name}: FLEET_REDIS_TLS_CA_FILE is the internal CA, mounted`).to.equal(CERT_FILES.ca);
      expect(env['FLEET_REDIS_TLS_VERIFICATION_MODE'] ?? 'full', name).to.equal('full');
      // Redis requires a client certificate of the internal CA: the replica's own.
      expect(secretFileAt(model, spec, env['FLEET_REDIS_TLS_CERT_FILE']), name).to.equal(CERT_FILES.serverCert);
      expect(secretFileAt(model, spec, env['FLEET_REDIS_TLS_KEY_FILE']), name).to.equal(CERT_FILES.serverKey);
      // The agents' default output (the dispatchers' policies): the published HTTPS port.
      if (service === 'policy-dispatcher') expect(env['FLEET_OUTPUT_HOSTS'], name).to.match(/^https:\/\//);
    }

    // Elasticsearch serves HTTPS only, and its health check asks over HTTPS with the CA.
    const es = model.services['elasticsearch']!;
    expect(composeEnvironmentBlock(es)).to.include({ 'xpack.security.enabled': 'true', 'xpack.security.http.ssl.enabled': 'true' });
    const esCheck = ([] as string[]).concat(es.healthcheck?.test ?? []).join(' ');
    const cacert = /--cacert (\S+)/.exec(esCheck)?.[1];
    expect(secretFileAt(model, es, cacert), `the health check's --cacert ${cacert}`).to.equal(CERT_FILES.ca);
    expect(esCheck).to.contain('https://localhost:9200/');

    // The one-shot: https with the CA (its script passes ES_CA_FILE to curl).
    const oneShot = model.services['es-service-token']!;
    const oneShotEnv = composeEnvironmentBlock(oneShot);
    expect(new URL(oneShotEnv['ES_URL'] ?? '').protocol).to.equal('https:');
    expect(secretFileAt(model, oneShot, oneShotEnv['ES_CA_FILE']), 'ES_CA_FILE').to.equal(CERT_FILES.ca);
    const script = readFileSync(join(REPO_ROOT, 'deploy', 'elasticsearch', 'compose-service-token.sh'), 'utf8');
    const curls = script.split('\n').filter((l) => /\bcurl\b/.test(l) && !l.trim().startsWith('#'));
    expect(curls.length).to.be.greaterThan(0);
    for (const line of curls) expect(line, 'every curl gets the --cacert arguments').to.match(/curl "\$@" /);
    expect(script).to.match(/set -- --cacert "\$ES_CA_FILE"/);

    // Redis: no plain port, TLS on 6379, client certificates required; its health check over TLS.
    const redis = model.services['redis']!;
    const args = redis['command'] as string[];
    const arg = (flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
    expect({ port: arg('--port'), tlsPort: arg('--tls-port'), authClients: arg('--tls-auth-clients') }).to.deep.equal({ port: '0', tlsPort: '6379', authClients: 'yes' });
    const redisCheck = ([] as string[]).concat(redis.healthcheck?.test ?? []);
    expect(redisCheck).to.include('--tls');
    const flagValue = (flag: string) => redisCheck[redisCheck.indexOf(flag) + 1];
    expect(secretFileAt(model, redis, flagValue('--cacert')), 'redis-cli --cacert').to.equal(CERT_FILES.ca);
    expect(secretFileAt(model, redis, flagValue('--cert')), 'redis-cli --cert').to.equal(CERT_FILES.redisCert);
    expect(secretFileAt(model, redis, flagValue('--key')), 'redis-cli --key').to.equal(CERT_FILES.redisKey);
  });

  it("When a replica's compose settings meet Redis started with the compose file's TLS flags, and a server with Elasticsearch's certificate, over the generated files, then both handshakes verify (names included) and Redis refuses a client without a certificate", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-compose-hops-'));
    generateDeploymentCertificates({ out: dir });
    /** The generated file compose mounts at `path` in a service. */
    const hostFile = (spec: ComposeModel['services'][string], path: string | undefined): string => {
      const file = secretFileAt(model, spec, path);
      expect(file, `${path} is a mounted secret`).to.be.a('string');
      return join(dir, file!);
    };
    const redis = model.services['redis']!;
    const args = redis['command'] as string[];
    const arg = (flag: string) => args[args.indexOf(flag) + 1];
    const server = await startTlsRedis({
      certFile: hostFile(redis, arg('--tls-cert-file')),
      keyFile: hostFile(redis, arg('--tls-key-file')),
      caFile: hostFile(redis, arg('--tls-ca-cert-file')),
      authClients: arg('--tls-auth-clients') as 'yes',
    });
    const es = model.services['elasticsearch']!;
    const esEnv = composeEnvironmentBlock(es);
    const esServer = createServer({
      cert: readFileSync(hostFile(es, `${ES_CONFIG_DIR}/${esEnv['xpack.security.http.ssl.certificate']}`)),
      key: readFileSync(hostFile(es, `${ES_CONFIG_DIR}/${esEnv['xpack.security.http.ssl.key']}`)),
    }, (socket) => socket.end('ok'));
    const esSockets = new Set<Socket>();
    esServer.on('connection', (socket: Socket) => esSockets.add(socket.on('close', () => esSockets.delete(socket))));
    await new Promise<void>((r) => esServer.listen(0, '127.0.0.1', r));
    const esPort = (esServer.address() as { port: number }).port;
    /** The first bytes a TLS server answers `send` with, to a client on 127.0.0.1 checking the name `servername`. */
    const exchange = (port: number, opts: ConnectionOptions, servername: string, send: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connect({ ...opts, host: '127.0.0.1', port, servername }, () => socket.write(send));
        let answer = '';
        socket.on('data', (d: Buffer) => {
          answer += d.toString();
          if (answer.includes('\n') || answer === 'ok') socket.end();
        });
        socket.once('error', reject);
        socket.once('close', () => resolve(answer));
      });
    const logger = { warn: () => undefined, info: () => undefined } as unknown as Logger;
    try {
      for (const { name, service, spec } of composeFleetServices(model)) {
        const env = composeContainerEnvironment(spec);
        const local = { ...env };
        for (const key of ['FLEET_ES_SSL_CA_FILE', 'FLEET_REDIS_TLS_CA_FILE', 'FLEET_REDIS_TLS_CERT_FILE', 'FLEET_REDIS_TLS_KEY_FILE']) local[key] = hostFile(spec, env[key]);
        const schema = SERVICES.find((x) => x.name === service)!.schema;
        const config = loadConfig(schema, { env: local }) as unknown as { store: { elasticsearch: ElasticsearchConfig }; bus: BusConfig };
        const redisTls = redisClientTls(config.bus, logger)!;
        const redisHost = new URL(env['FLEET_REDIS_URL']!).hostname;
        expect(await exchange(server.port, redisTls, redisHost, 'PING\r\n'), `${name} → redis`).to.equal('+PONG\r\n');
        const esTls = (await elasticsearchClientTls(config.store.elasticsearch, logger))!;
        const esHost = new URL(env['FLEET_ES_HOSTS']!).hostname;
        expect(await exchange(esPort, esTls, esHost, 'GET'), `${name} → elasticsearch`).to.equal('ok');
        // The names are checked: neither certificate passes for the other service.
        const wrongName = await exchange(esPort, esTls, redisHost, 'GET').catch((err: NodeJS.ErrnoException) => err.code);
        expect(wrongName, `${name}: elasticsearch.crt for ${redisHost}`).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
        // Without the client certificate, Redis answers nothing.
        const { cert: _cert, key: _key, ...anonymous } = redisTls;
        const refused = await exchange(server.port, anonymous, redisHost, 'PING\r\n').catch((err: Error) => err.message);
        expect(refused, `${name} without a client certificate`).to.not.equal('+PONG\r\n');
      }
    } finally {
      await server.stop();
      for (const socket of esSockets) socket.destroy();
      await new Promise<void>((r) => esServer.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('When `npm run tls:certs` writes the certificates, then the chains verify, the keys are 0600, and the names and usages are what each hop checks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-compose-certs-'));
    try {
      const certs = generateDeploymentCertificates({ out: dir });
      expect(certs.generated).to.equal(true);
      for (const key of ['caKey', 'serverKey', 'lbPem', 'proxyClientPem', 'proxyClientKey', 'agentsCaKey', 'agentKey', 'esKey', 'redisKey'] as const) {
        expect(statSync(certs.files[key]).mode & 0o777, key).to.equal(0o600);
      }
      const cert = (file: string) => new X509Certificate(readFileSync(file));
      const ca = cert(certs.files.ca);
      const agentsCa = cert(certs.files.agentsCa);
      expect(ca.ca && agentsCa.ca).to.equal(true);
      const server = cert(certs.files.serverCert);
      expect(server.verify(ca.publicKey), 'server.crt by ca.crt').to.equal(true);
      for (const host of [...COMPOSE_REPLICA_HOSTS, REPLICA_TLS_NAME, 'localhost']) expect(server.checkHost(host), host).to.equal(host);
      expect(server.checkIP('127.0.0.1')).to.equal('127.0.0.1');
      expect(server.keyUsage).to.include.members(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
      expect(cert(certs.files.lbCert).verify(ca.publicKey), 'lb.pem by ca.crt').to.equal(true);
      expect(readFileSync(certs.files.lbPem, 'utf8')).to.contain(readFileSync(certs.files.lbCert, 'utf8')).and.contain('PRIVATE KEY');
      const proxy = cert(certs.files.proxyClientCert);
      expect(proxy.verify(ca.publicKey), 'proxy-client by ca.crt').to.equal(true);
      expect(proxy.keyUsage).to.deep.equal(['1.3.6.1.5.5.7.3.2']);
      // Elasticsearch's and Redis's certificates name their compose services (the replicas verify
      // the host name), and Redis's is a client certificate too (its own health check).
      const esCert = cert(certs.files.esCert);
      const redisCert = cert(certs.files.redisCert);
      for (const [what, c, host] of [['elasticsearch.crt', esCert, COMPOSE_ELASTICSEARCH_HOST], ['redis.crt', redisCert, COMPOSE_REDIS_HOST]] as const) {
        expect(c.verify(ca.publicKey), `${what} by ca.crt`).to.equal(true);
        expect(model.services, what).to.have.property(host);
        for (const name of [host, 'localhost']) expect(c.checkHost(name), `${what} ${name}`).to.equal(name);
        expect(c.checkIP('127.0.0.1'), what).to.equal('127.0.0.1');
        expect(c.checkHost('fleet-replica'), `${what} is not a replica's`).to.equal(undefined);
        expect(c.keyUsage, what).to.include('1.3.6.1.5.5.7.3.1');
      }
      expect(redisCert.keyUsage).to.include('1.3.6.1.5.5.7.3.2');
      const agent = cert(certs.files.agentCert);
      expect(agent.verify(agentsCa.publicKey), 'agent.crt by agents-ca.crt').to.equal(true);
      expect(agent.verify(ca.publicKey), 'agent.crt is not of the internal CA').to.equal(false);
      // Run again: every file is kept.
      expect(generateDeploymentCertificates({ out: dir }).generated).to.equal(false);
      expect(cert(certs.files.serverCert).serialNumber).to.equal(server.serialNumber);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('When a Fleet replica starts, then it has waited for Elasticsearch, the service token, Redis and (gateways, enrollment) the first dispatcher', () => {
    for (const { name, spec } of composeFleetServices(model)) {
      const deps = composeDependsOn(spec);
      expect(deps, name).to.include({ elasticsearch: 'service_healthy', 'es-service-token': 'service_completed_successfully', redis: 'service_healthy' });
      if (name !== 'dispatcher-1') expect(deps['dispatcher-1'], name).to.equal('service_healthy');
      for (const dep of Object.keys(deps)) expect(model.services, `${name} depends on ${dep}`).to.have.property(dep);
    }
    for (const [name, spec] of Object.entries(model.services)) {
      for (const [dep, condition] of Object.entries(composeDependsOn(spec))) {
        if (condition === 'service_healthy') expect(model.services[dep]?.healthcheck, `${name} waits for ${dep} to be healthy`).to.not.equal(undefined);
      }
    }
  });

  it('When the one-shot writes the service token, then every replica reads that file from the same volume, read-only', () => {
    const writer = model.services['es-service-token']!;
    const tokenFile = composeEnvironmentBlock(writer)['TOKEN_FILE']!;
    const writerMount = composeMounts(writer).find((m) => tokenFile.startsWith(`${m.target}/`));
    expect(writerMount, 'the token file is on a volume').to.not.equal(undefined);
    expect(writer.restart).to.equal('no');
    expect(model.volumes).to.have.property(writerMount!.source);
    for (const { name, spec } of composeFleetServices(model)) {
      const env = composeContainerEnvironment(spec);
      expect(env['FLEET_ES_SERVICE_TOKEN_FILE'], name).to.equal(tokenFile);
      const mount = composeMounts(spec).find((m) => m.target === writerMount!.target);
      expect(mount, name).to.deep.equal({ source: writerMount!.source, target: writerMount!.target, readOnly: true });
    }
    // Elasticsearch and the one-shot use the same password variable, with the same default.
    expect(composeEnvironmentBlock(writer)['ELASTIC_PASSWORD']).to.equal(composeEnvironmentBlock(model.services['elasticsearch']!)['ELASTIC_PASSWORD']);
  });

  it('When the dispatchers write the token files, then they share one data volume at FLEET_SQLITE_PATH', () => {
    const dispatchers = composeFleetServices(model).filter((f) => f.service === 'policy-dispatcher');
    expect(dispatchers.length).to.be.greaterThan(1);
    const sources = dispatchers.map(({ spec }) => {
      const dataDir = composeContainerEnvironment(spec)['FLEET_SQLITE_PATH']!.replace(/\/[^/]+$/, '');
      const mount = composeMounts(spec).find((m) => m.target === dataDir);
      expect(mount?.readOnly).to.equal(false);
      return mount?.source;
    });
    expect(new Set(sources).size).to.equal(1);
    expect(model.volumes).to.have.property(sources[0]!);
  });

  it("When compose checks a replica's health, then it asks /readyz on the replica's own HTTP port, and the grace period covers the drain", () => {
    for (const { name, spec } of composeFleetServices(model)) {
      const test = spec.healthcheck?.test;
      expect(Array.isArray(test) ? test.join(' ') : test, name).to.match(/process\.env\.FLEET_HTTP_PORT\+'\/readyz'/);
      expect(composeContainerEnvironment(spec)['FLEET_HTTP_PORT'], name).to.match(/^\d+$/);
      // Polls answered at once, then up to FLEET_HTTP_DRAIN_TIMEOUT_MS for in-flight requests.
      const drainMs = Number(composeContainerEnvironment(spec)['FLEET_HTTP_DRAIN_TIMEOUT_MS'] ?? schemaDefault('checkin-gateway', 'http.drainTimeoutMs'));
      expect(durationSeconds(spec.stop_grace_period ?? '10s'), name).to.be.at.least(drainMs / 1000 + 15);
    }
  });

  it('When traces are exported, then the OTLP endpoint is the Jaeger service on its OTLP/HTTP port, and its UI is published', () => {
    const jaeger = model.services['jaeger']!;
    // The Jaeger v2 release the tracing test builds and runs (load-balanced-topology.test.ts).
    expect(jaeger.image).to.equal(`jaegertracing/jaeger:${JAEGER.release.slice(1)}`);
    expect(jaeger.ports).to.deep.equal(['16686:16686']);
    for (const { name, spec } of composeFleetServices(model)) {
      const env = composeContainerEnvironment(spec);
      expect(env['FLEET_TRACING_ENABLED'], name).to.equal('true');
      const endpoint = new URL(env['OTEL_EXPORTER_OTLP_ENDPOINT']!);
      expect(endpoint.hostname, name).to.equal('jaeger');
      expect((jaeger.expose ?? []).map(String), name).to.include(endpoint.port);
      expect(endpoint.port === '4318' ? env['OTEL_EXPORTER_OTLP_PROTOCOL'] : 'grpc', name).to.match(/^http\//);
    }
  });

  it('When Redis holds the bus and BullMQ jobs, then it keeps every key and an append-only file', () => {
    const command = (model.services['redis']!['command'] as string[]).join(' ');
    expect(command).to.contain('--appendonly yes').and.to.contain('--maxmemory-policy noeviction');
    const es = composeEnvironmentBlock(model.services['elasticsearch']!);
    expect(es['xpack.security.enabled']).to.equal('true');
    expect(model.services['elasticsearch']!.image).to.match(/^docker\.elastic\.co\/elasticsearch\/elasticsearch:8\.19\.\d+$/);
  });

  it('When compose mounts volumes and files, then every named volume is declared and every env file and bind-mounted file exists', () => {
    const declared = Object.keys(model.volumes ?? {});
    const used = new Set<string>();
    for (const [name, spec] of Object.entries(model.services)) {
      for (const f of composeEnvFiles(spec)) expect(existsSync(join(REPO_ROOT, f)), `${name} env_file ${f}`).to.equal(true);
      for (const m of composeMounts(spec)) {
        if (m.source.startsWith('.') || m.source.startsWith('/')) expect(existsSync(join(REPO_ROOT, m.source)), `${name} mounts ${m.source}`).to.equal(true);
        else {
          expect(declared, `${name} mounts volume ${m.source}`).to.include(m.source);
          used.add(m.source);
        }
      }
    }
    expect([...used].sort()).to.deep.equal([...declared].sort());
  });

  it('When compose builds a replica, then the Dockerfile has its target, which runs the service\'s tracing preload and main under tini as uid 1000', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'deploy', 'docker', 'Dockerfile'), 'utf8');
    const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)\s+AS\s+(\S+)\s*$/gm)].map((m) => ({ from: m[1]!, name: m[2]! }));
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
    expect(dockerfile).to.match(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    expect(dockerfile).to.contain('npm ci --omit=dev');
    expect(runtime).to.match(/^USER 1000:1000$/m);
    expect(runtime).to.match(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    for (const { name, service } of composeFleetServices(model)) {
      const stage = stages.find((st) => st.name === service);
      expect(stage?.from, `${name}: target ${service}`).to.equal('runtime');
      const body = dockerfile.slice(dockerfile.indexOf(`AS ${service}\n`));
      const cmd = /^CMD (\[.*\])$/m.exec(body)?.[1];
      expect(JSON.parse(cmd ?? '[]'), name).to.deep.equal(['node', '--require', `/app/services/${service}/dist/instrumentation.js`, `/app/services/${service}/dist/main.js`]);
      for (const entry of ['instrumentation', 'main']) expect(existsSync(join(REPO_ROOT, 'services', service, 'src', `${entry}.ts`)), `${service} ${entry}.ts`).to.equal(true);
    }
    // The build context keeps what the build reads.
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.base.json', 'libs', 'services']) expect(ignored, needed).to.not.include(needed);
    expect(ignored).to.include.members(['**/node_modules', '**/dist', '.git']);
  });

  it('When the token one-shot runs against a secured Elasticsearch, then it writes a service token that authenticates, and keeps it on the next run', async function () {
    // The suite's Elasticsearch node (the mocha fixture); a run of this file alone has none.
    const url = process.env.FLEET_ES_URL;
    const passwordFile = process.env.FLEET_ES_PASSWORD_FILE;
    if (!url || !passwordFile) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'fleet-compose-token-'));
    const tokenName = `compose-test-${process.pid}`;
    const tokenFile = join(dir, 'fleet-es-service-token');
    const runOneShot = (): string =>
      execFileSync('sh', [join(REPO_ROOT, 'deploy', 'elasticsearch', 'compose-service-token.sh')], {
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH,
          ELASTIC_PASSWORD: readFileSync(passwordFile, 'utf8').trim(),
          ES_URL: url,
          TOKEN_FILE: tokenFile,
          TOKEN_NAME: tokenName,
          TOKEN_OWNER: `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`,
        },
      });
    const authenticate = async (): Promise<{ username?: string; token?: { name?: string } }> => {
      const res = await fetch(`${url}/_security/_authenticate`, { headers: { authorization: `Bearer ${readFileSync(tokenFile, 'utf8')}` } });
      expect(res.status).to.equal(200);
      return (await res.json()) as { username?: string; token?: { name?: string } };
    };
    try {
      expect(runOneShot()).to.contain('written');
      expect(statSync(tokenFile).mode & 0o777).to.equal(0o600);
      expect(await authenticate()).to.deep.include({ username: 'elastic/fleet-server', token: { name: tokenName, type: '_service_account_index' } });
      const first = readFileSync(tokenFile, 'utf8');
      expect(first).to.not.contain('\n');
      expect(runOneShot()).to.contain('kept');
      expect(readFileSync(tokenFile, 'utf8')).to.equal(first);
      // A file that no longer authenticates (a wiped cluster) is replaced by a new token.
      writeFileSync(tokenFile, 'stale');
      expect(runOneShot()).to.contain('written');
      expect(readFileSync(tokenFile, 'utf8')).to.not.equal(first);
      await authenticate();
    } finally {
      await adminDelete(`/_security/service/elastic/fleet-server/credential/token/${tokenName}`);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
