/**
 * `npm run topology`: the scaled-out deployment as plain processes on this machine, with the
 * environment docker-compose gives the containers (deploy/env): Elasticsearch (deploy/elasticsearch/
 * es-node.sh), Redis (Debian's redis-server, append-only, noeviction as BullMQ requires), 3
 * checkin-gateway, 2 enrollment and 2 policy-dispatcher replicas, and haproxy in front.
 * Ctrl-C (or SIGTERM) stops it all; data survives in FLEET_TOPOLOGY_DIR for the next start.
 *
 * Environment (all optional):
 *   FLEET_TOPOLOGY_DIR         state directory                      (default ./data/topology)
 *   FLEET_TOPOLOGY_PORT        haproxy's port (agents, management)  (default 8220)
 *   FLEET_TOPOLOGY_REDIS_PORT  port of the redis-server it starts   (default 6390)
 *   FLEET_LB_CLIENT_AUTH       optional|required: haproxy's check of agents' client certificates
 * haproxy serves HTTPS; the certificates are made once in FLEET_TOPOLOGY_DIR/fleet/tls (CA: ca.crt).
 *   FLEET_ES_URL + FLEET_ES_SERVICE_TOKEN_FILE   use this Elasticsearch instead of starting one
 *   FLEET_REDIS_URL            use this Redis instead of starting one
 */
import { createLogger } from '@fleet/service-kit';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readEnvFile, startRedisServer, startTopology, type Topology } from './local-topology';

const logger = createLogger({ name: 'topology', level: 'info' });
const root = resolve(__dirname, '../..');
const dir = resolve(process.env.FLEET_TOPOLOGY_DIR ?? join(root, 'data', 'topology'));
const esNode = join(root, 'deploy', 'elasticsearch', 'es-node.sh');

/** Starts (or resumes) the local Elasticsearch node; returns its URL and service-token file. */
function elasticsearch(): { url: string; tokenFile: string; started: boolean } {
  if (process.env.FLEET_ES_URL && process.env.FLEET_ES_SERVICE_TOKEN_FILE) {
    return { url: process.env.FLEET_ES_URL, tokenFile: process.env.FLEET_ES_SERVICE_TOKEN_FILE, started: false };
  }
  const workDir = join(dir, 'elasticsearch');
  const command = existsSync(join(workDir, 'es.env')) ? 'resume' : 'start';
  logger.info({ workDir, command }, 'elasticsearch: starting (the first start downloads the distribution)');
  const envFile = execFileSync(esNode, [command, workDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const env = readEnvFile(envFile);
  const url = env.FLEET_ES_URL;
  const tokenFile = env.FLEET_ES_SERVICE_TOKEN_FILE;
  if (!url || !tokenFile) throw new Error(`${envFile} lacks FLEET_ES_URL or FLEET_ES_SERVICE_TOKEN_FILE`);
  return { url, tokenFile, started: true };
}

/** This runner's Redis: FLEET_REDIS_URL, or a redis-server it starts in the state directory. */
async function redis(): Promise<{ url: string; child?: ChildProcess }> {
  if (process.env.FLEET_REDIS_URL) return { url: process.env.FLEET_REDIS_URL };
  const started = await startRedisServer(join(dir, 'redis'), Number(process.env.FLEET_TOPOLOGY_REDIS_PORT ?? 6390));
  logger.info({ url: started.url }, 'redis: started');
  return started;
}

async function main(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const es = elasticsearch();
  let redisChild: ChildProcess | undefined;
  let topology: Topology | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      logger.info('stopping');
      await topology?.close();
      if (redisChild && redisChild.exitCode === null) {
        const exited = new Promise((r) => redisChild?.once('exit', r));
        redisChild.kill('SIGTERM');
        await exited;
      }
      if (es.started) execFileSync(esNode, ['stop', join(dir, 'elasticsearch')], { stdio: ['ignore', 'ignore', 'inherit'] });
      logger.info('stopped');
    })());
  // `on`, not `once`: under `npm run`, a Ctrl-C arrives twice (from the terminal and forwarded by
  // npm), and a signal without a listener would kill the runner before it stopped the replicas.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop().then(() => process.exit(0)));
  try {
    const r = await redis();
    redisChild = r.child;
    topology = await startTopology({
      elasticsearch: { url: es.url, serviceTokenFile: es.tokenFile },
      redisUrl: r.url,
      dataDir: join(dir, 'fleet'),
      lbPort: Number(process.env.FLEET_TOPOLOGY_PORT ?? 8220),
      logs: 'inherit',
      lbClientAuth: process.env.FLEET_LB_CLIENT_AUTH === 'required' ? 'required' : 'optional',
    });
    logger.info(
      {
        url: topology.url,
        replicas: topology.replicas.map((x) => `${x.name}@${x.port} (metrics ${x.metricsPort})`),
        enrollmentTokenFile: join(topology.dataDir, 'enrollment-token'),
        adminTokenFile: join(topology.dataDir, 'admin-token'),
        // curl --cacert <caFile> <url>/api/status; agents: --certificate-authorities=<caFile>
        caFile: topology.caFile,
        agentCertificate: topology.agentCert.certFile,
        agentKey: topology.agentCert.keyFile,
      },
      'topology up; Ctrl-C stops it',
    );
  } catch (err) {
    logger.fatal({ err }, 'topology failed to start');
    await stop();
    process.exit(1);
  }
}

void main();
