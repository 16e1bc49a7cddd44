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
import { createCheckinGateway } from './checkin-gateway-service';
import { checkinGatewayServiceSchema } from './gateway-config';

const bootLogger = createLogger({ name: 'checkin-gateway', level: 'info' });
const config = loadConfigOrExit('checkin-gateway', () => loadConfig(checkinGatewayServiceSchema), bootLogger);
const logger = createLogger({ name: 'checkin-gateway', level: config.log.level });

runMain(
  'checkin-gateway',
  async () => {
    const lifecycle = new Lifecycle(logger);
    const store = openStore(config.store);
    lifecycle.onClose('store', () => store.close());
    // Until a shared bus is configured, the gateway learns of changes from the change feeds alone.
    const bus = new InProcessBus();
    lifecycle.onClose('notification bus', () => bus.close());
    const gateway = createCheckinGateway({ store, bus, logger }, config);
    lifecycle.onClose('checkin gateway', () => gateway.close());
    const app = createServiceApp({ logger, replicaId: replicaName(config.server.replicaId), http: config.http });
    app.use(gateway.router);
    app.use(notFound());
    app.use(errorHandler('agent'));
    await gateway.start();
    const server = await startHttpServer(app, config.http, logger);
    lifecycle.onClose('http server', () => server.close());
    lifecycle.onClose('drain long polls', () => {
      logger.info({ answered: gateway.drain() }, 'open long polls answered');
    });
    lifecycle.installSignalHandlers();
    return lifecycle;
  },
  logger,
);
