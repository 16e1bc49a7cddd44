import { InProcessBus } from '@fleet/notifications';
import { runService } from '@fleet/service-kit';
import { enrollmentServiceSchema } from './enrollment-config';
import { createEnrollmentService } from './enrollment-service';

runService('enrollment', enrollmentServiceSchema, ({ config, logger, store, lifecycle, app }) => {
  const bus = new InProcessBus();
  lifecycle.onClose('notification bus', () => bus.close());
  app.use(createEnrollmentService({ store, bus, logger }, config).router);
  return Promise.resolve();
});
