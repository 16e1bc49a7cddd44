import { InProcessBus } from '@fleet/notifications';
import { runService } from '@fleet/service-kit';
import { createCheckinGateway } from './checkin-gateway-service';
import { checkinGatewayServiceSchema } from './gateway-config';

runService('checkin-gateway', checkinGatewayServiceSchema, async ({ config, logger, store, lifecycle, app }) => {
  // Until a shared bus is configured, the gateway learns of changes from the change feeds alone.
  const bus = new InProcessBus();
  lifecycle.onClose('notification bus', () => bus.close());
  const gateway = createCheckinGateway({ store, bus, logger }, config);
  lifecycle.onClose('checkin gateway', () => gateway.close());
  app.use(gateway.router);
  await gateway.start();
  return { beforeClose: () => logger.info({ answered: gateway.drain() }, 'open long polls answered') };
});
