import { runService } from '@fleet/runtime';
import { leanRouterOf } from '@fleet/service-kit';
import { createCheckinGateway } from './checkin-gateway-service';
import { checkinGatewayServiceSchema } from './gateway-config';

runService('checkin-gateway', checkinGatewayServiceSchema, async ({ config, logger, store, bus, jobs, health, metrics, lifecycle, app }) => {
  // Notifications (in-process or Redis) make deliveries immediate; the change monitor's periodic read makes them certain.
  const gateway = createCheckinGateway({ store, bus, jobs, health, metrics, logger }, config);
  lifecycle.onClose('checkin gateway', () => gateway.close());
  gateway.mountLean(leanRouterOf(app));
  app.use(gateway.router);
  app.use(gateway.deliveryRouter);
  await gateway.start();
  return { beforeClose: () => logger.info({ answered: gateway.drain() }, 'open long polls answered') };
});
