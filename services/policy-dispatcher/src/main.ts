import { runService } from '@fleet/runtime';
import { ConfigError } from '@fleet/service-kit';
import { dirname, resolve } from 'node:path';
import { resolveAdminToken } from './admin-token';
import { bootstrapFleet } from './bootstrap';
import { policyDispatcherServiceSchema } from './dispatcher-config';
import { createPolicyDispatcher } from './policy-dispatcher-service';

runService('policy-dispatcher', policyDispatcherServiceSchema, async ({ config, logger, store, bus, jobs, lifecycle, app }) => {
  // Agents learn where the fleet is from the policy (fleet.hosts): a replica cannot guess the
  // balancer's address.
  const publicUrl = config.fleet.publicUrls[0];
  if (!publicUrl) throw new ConfigError('fleet.publicUrls (FLEET_PUBLIC_URLS) is required: the URL agents reach the fleet at, written into policies');
  const dataDir = resolve(dirname(config.store.sqlite.path));
  const admin = resolveAdminToken(config.admin, dataDir);
  const dispatcher = createPolicyDispatcher({ store, bus, jobs, logger, adminToken: admin.token }, config);
  lifecycle.onClose('policy dispatcher', () => dispatcher.close());
  app.use(dispatcher.router);
  await dispatcher.start();
  if (config.fleet.bootstrap) {
    await bootstrapFleet({ ...dispatcher.policyDeps, logger }, dataDir, publicUrl, { fleetServerPolicy: config.presence.enabled });
  }
  if (admin.file) logger.info({ file: admin.file, generated: admin.generated }, 'management API token file');
  return { beforeClose: () => dispatcher.drain() };
});
