import { createCheckinGateway, type CheckinGateway } from '@fleet/checkin-gateway';
import { createEnrollmentService } from '@fleet/enrollment';
import { bootstrapFleet, CONSOLE_BASE, createPolicyDispatcher, resolveAdminToken, type PolicyDispatcher } from '@fleet/policy-dispatcher';
import {
  ApiKeyAuthenticator,
  certificateHosts,
  createServiceApp,
  ensureGeneratedCertificates,
  leanRouterOf,
  errorHandler,
  Lifecycle,
  notFound,
  probeRoutes,
  replicaName,
  resolveListenerTls,
  startHttpServer,
  type GeneratedCertificates,
  type Logger,
} from '@fleet/service-kit';
import { openProcessResources } from '@fleet/runtime';
import { StoreUnavailableError, type FleetStore } from '@fleet/store';
import { dirname, join, resolve } from 'node:path';
import type { AllInOneConfig } from './all-in-one-config';

export interface RunningFleetServer {
  url: string;
  port: number;
  store: FleetStore;
  gateway: CheckinGateway;
  dispatcher: PolicyDispatcher;
  adminToken: string;
  adminTokenFile?: string;
  /** The Prometheus endpoint, when metrics are enabled. */
  metricsUrl?: string;
  enrollmentTokenFile: string;
  /** The CA an agent enrolls with (`--certificate-authorities`), when the server made its own. */
  caFile?: string;
  lifecycle: Lifecycle;
  /** Graceful shutdown: open polls answered, status flushed, store closed. Idempotent. */
  close(): Promise<void>;
}

/** Starts enrollment, checkin gateway and policy dispatcher in one process on one port. */
export async function startFleetServer(configured: AllInOneConfig, logger: Logger): Promise<RunningFleetServer> {
  let config = configured;
  const lifecycle = new Lifecycle(logger);
  try {
    const dataDir = resolve(dirname(config.store.sqlite.path));
    // Before anything connects: a missing or wrong certificate stops the start at once. Without
    // one configured, the server makes its own CA (once) and certificate, and serves HTTPS.
    let generated: GeneratedCertificates | undefined;
    const tls = resolveListenerTls(config.http.tls, logger, () => {
      generated = ensureGeneratedCertificates(join(dataDir, 'tls'), certificateHosts(config.fleet.publicUrls), logger);
      return generated;
    });
    config = withPublicUrls(config, tls !== undefined);
    const { store, bus, jobs, health, metrics, metricsUrl } = await openProcessResources('fleet-server', config, logger, lifecycle);
    if (tls) health.addDetail('tls', () => tls.statusDetail());
    const admin = resolveAdminToken(config.admin, dataDir);
    const authenticator = new ApiKeyAuthenticator(store.credentials, config.auth);

    const dispatcher = createPolicyDispatcher({ store, bus, jobs, logger, adminToken: admin.token }, config);
    lifecycle.onClose('policy dispatcher', () => dispatcher.close());
    const enrollment = createEnrollmentService({ store, bus, jobs, logger, authenticator, metrics }, config);
    const gateway = createCheckinGateway({ store, bus, jobs, logger, authenticator, health, metrics }, config);
    lifecycle.onClose('checkin gateway', () => gateway.close());

    const app = createServiceApp({ logger, replicaId: replicaName(config.server.replicaId), http: config.http, metrics });
    app.use(probeRoutes(health));
    app.use(enrollment.router);
    gateway.mountLean(leanRouterOf(app));
    app.use(gateway.router);
    app.use(gateway.deliveryRouter);
    app.use(dispatcher.router);
    app.use(notFound());
    app.use(errorHandler('agent'));

    await dispatcher.start();
    const publicUrl = config.fleet.publicUrls[0]!;
    const tokenFile = `${dataDir}/enrollment-token`;
    if (config.fleet.bootstrap) {
      // With the store down at start, bootstrap waits for it instead of failing the process.
      let retry: NodeJS.Timeout | undefined;
      const attempt = async (): Promise<void> => {
        try {
          await bootstrapFleet({ ...dispatcher.policyDeps, logger }, dataDir, publicUrl, {
            caFile: generated?.caFile,
            fleetServerPolicy: config.presence.enabled,
          });
        } catch (err) {
          if (!(err instanceof StoreUnavailableError)) throw err;
          logger.warn({ reason: err.message }, 'bootstrap postponed: store unavailable');
          retry = setTimeout(() => void attempt().catch(stopOnBootstrapFailure), 5_000);
          retry.unref();
        }
      };
      // A later attempt that fails for good (the store belongs to another install, or lost its
      // data) stops the process, as the first attempt would have.
      const stopOnBootstrapFailure = (err: unknown): void => {
        logger.fatal({ err }, `bootstrap failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
        void lifecycle.close();
      };
      await attempt();
      lifecycle.onClose('bootstrap retry', () => clearTimeout(retry));
    }
    const boot = { tokenFile };
    await gateway.start();
    const server = await startHttpServer(app, config.http, logger, tls);
    lifecycle.onClose('http server', () => server.close());
    // Registered last, so it runs first: answer every open long poll before the server closes.
    lifecycle.onClose('drain long polls', () => {
      dispatcher.drain();
      const answered = gateway.drain();
      logger.info({ answered }, 'open long polls answered');
    });
    if (admin.file) logger.info({ file: admin.file, generated: admin.generated }, 'management API token file');
    const consoleUrl = `${publicUrl.replace(/\/+$/, '')}${CONSOLE_BASE}/`;
    logger.info(
      { url: consoleUrl },
      `the Fleet console: ${consoleUrl} (sign in with the admin token${admin.file ? ` in ${admin.file}` : ''} or a management API key)`,
    );

    return {
      url: server.url,
      port: server.port,
      store,
      gateway,
      dispatcher,
      adminToken: admin.token,
      ...(metricsUrl ? { metricsUrl } : {}),
      ...(admin.file ? { adminTokenFile: admin.file } : {}),
      enrollmentTokenFile: boot.tokenFile,
      ...(generated ? { caFile: generated.caFile } : {}),
      lifecycle,
      close: () => lifecycle.close(),
    };
  } catch (err) {
    await lifecycle.close();
    throw err;
  }
}

/**
 * FLEET_PUBLIC_URLS, or, when none is given, this server itself on localhost: https when it serves
 * TLS. Written into policies as fleet.hosts and printed in the enrollment command.
 */
function withPublicUrls(config: AllInOneConfig, tls: boolean): AllInOneConfig {
  if (config.fleet.publicUrls.length > 0) return config;
  const url = `${tls ? 'https' : 'http'}://localhost:${config.http.port || 8220}`;
  return { ...config, fleet: { ...config.fleet, publicUrls: [url] } };
}
