import { createLogger, loadConfig, loadConfigOrExit, runMain } from '@fleet/service-kit';
import { allInOneSchema } from './all-in-one-config';
import { startFleetServer } from './fleet-server';

const bootLogger = createLogger({ name: 'fleet-server', level: 'info' });
const config = loadConfigOrExit('fleet-server', () => loadConfig(allInOneSchema), bootLogger);
const logger = createLogger({ name: 'fleet-server', level: config.log.level });

runMain(
  'fleet-server',
  async () => {
    const server = await startFleetServer(config, logger);
    server.lifecycle.installSignalHandlers();
    return server;
  },
  logger,
);
