import { runService } from '@fleet/runtime';
import { enrollmentServiceSchema } from './enrollment-config';
import { createEnrollmentService } from './enrollment-service';

runService('enrollment', enrollmentServiceSchema, ({ config, logger, store, bus, jobs, metrics, app }) => {
  app.use(createEnrollmentService({ store, bus, jobs, logger, metrics }, config).router);
  return Promise.resolve();
});
