import { runService } from '@fleet/runtime';
import { dirname, resolve } from 'node:path';
import { resolveAdminToken } from './admin-token';
import { bootstrapFleet } from './bootstrap';
import { policyDispatcherServiceSchema } from './dispatcher-config';
import { createPolicyDispatcher } from './policy-dispatcher-service';

runService('policy-dispatcher', policyDispatcherServiceSchema, async ({ config, logger, store, bus, jobs, lifecycle, app }) => {
  const dataDir = resolve(dirname(config.store.sqlite.path));
  const admin = resolveAdminToken(config.admin, dataDir);
  const dispatcher = createPolicyDispatcher({ store, bus, jobs, logger, adminToken: admin.token }, config);
  lifecycle.onClose('policy dispatcher', () => dispatcher.close());
  app.use(dispatcher.router);
  await dispatcher.start();
  if (config.fleet.bootstrap) {
    await bootstrapFleet({ ...dispatcher.policyDeps, logger }, dataDir, config.fleet.publicUrls[0] ?? 'http://localhost:8220');
  }
  if (admin.file) logger.info({ file: admin.file, generated: admin.generated }, 'management API token file');
});
