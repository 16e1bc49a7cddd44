import { InProcessBus } from '@fleet/notifications';
import {
  createLogger,
  createServiceApp,
  errorHandler,
  Lifecycle,
  loadConfig,
  loadConfigOrExit,
  notFound,
  openStore,
  replicaName,
  runMain,
  startHttpServer,
} from '@fleet/service-kit';
import { dirname, resolve } from 'node:path';
import { resolveAdminToken } from './admin-token';
import { bootstrapFleet } from './bootstrap';
import { policyDispatcherServiceSchema } from './dispatcher-config';
import { createPolicyDispatcher } from './policy-dispatcher-service';

const bootLogger = createLogger({ name: 'policy-dispatcher', level: 'info' });
const config = loadConfigOrExit('policy-dispatcher', () => loadConfig(policyDispatcherServiceSchema), bootLogger);
const logger = createLogger({ name: 'policy-dispatcher', level: config.log.level });

runMain(
  'policy-dispatcher',
  async () => {
    const lifecycle = new Lifecycle(logger);
    const store = openStore(config.store);
    lifecycle.onClose('store', () => store.close());
    const bus = new InProcessBus();
    lifecycle.onClose('notification bus', () => bus.close());
    const dataDir = resolve(dirname(config.store.sqlite.path));
    const admin = resolveAdminToken(config.admin, dataDir);
    const dispatcher = createPolicyDispatcher({ store, bus, logger, adminToken: admin.token }, config);
    lifecycle.onClose('policy dispatcher', () => dispatcher.close());
    const app = createServiceApp({ logger, replicaId: replicaName(config.server.replicaId), http: config.http });
    app.use(dispatcher.router);
    app.use(notFound());
    app.use(errorHandler('agent'));
    await dispatcher.start();
    if (config.fleet.bootstrap) {
      await bootstrapFleet({ ...dispatcher.policyDeps, logger }, dataDir, config.fleet.publicUrls[0] ?? 'http://localhost:8220');
    }
    const server = await startHttpServer(app, config.http, logger);
    lifecycle.onClose('http server', () => server.close());
    if (admin.file) logger.info({ file: admin.file, generated: admin.generated }, 'management API token file');
    lifecycle.installSignalHandlers();
    return lifecycle;
  },
  logger,
);
