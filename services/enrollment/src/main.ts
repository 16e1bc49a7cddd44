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
import { enrollmentServiceSchema } from './enrollment-config';
import { createEnrollmentService } from './enrollment-service';

const bootLogger = createLogger({ name: 'enrollment', level: 'info' });
const config = loadConfigOrExit('enrollment', () => loadConfig(enrollmentServiceSchema), bootLogger);
const logger = createLogger({ name: 'enrollment', level: config.log.level });

runMain(
  'enrollment',
  async () => {
    const lifecycle = new Lifecycle(logger);
    const store = openStore(config.store);
    lifecycle.onClose('store', () => store.close());
    const bus = new InProcessBus();
    lifecycle.onClose('notification bus', () => bus.close());
    const service = createEnrollmentService({ store, bus, logger }, config);
    const app = createServiceApp({ logger, replicaId: replicaName(config.server.replicaId), http: config.http });
    app.use(service.router);
    app.use(notFound());
    app.use(errorHandler('agent'));
    const server = await startHttpServer(app, config.http, logger);
    lifecycle.onClose('http server', () => server.close());
    lifecycle.installSignalHandlers();
    return lifecycle;
  },
  logger,
);
