import { Router } from 'express';
import { ConsoleSessions } from './console-session';
import { consoleRoutes } from './console-routes';
import { consoleSessionRoutes } from './console-session-routes';
import { createFleetJobHandlers, type JobHandlers, type JobQueue } from '@fleet/background-jobs';
import type { NotificationBus } from '@fleet/notifications';
import type { JobsConfig, Logger, UploadsConfig } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import type { AgentAdminDeps } from './agent-management';
import type { PolicyDeps } from './agent-policies';
import { ChangeDispatcher } from './change-dispatcher';
import type { ActionUrisConfig, DispatchConfig, FleetDefaultsConfig } from './dispatcher-config';
import { KeyedMutex } from './keyed-mutex';
import { createManagementRouter } from './management-routes';
import { UriAllowList } from './uri-allow-list';
import { rolloutSnapshot, type RolloutProgressDeps } from './rollout-progress';
import { RolloutStreams } from './rollout-streams';

export interface PolicyDispatcherDeps {
  store: FleetStore;
  /** Rollout progress reads the deliveries the gateways record on `bus.ledger`. */
  bus: NotificationBus;
  /** The dispatcher runs the background job worker (and upserts the repeatable jobs). */
  jobs: JobQueue;
  logger: Logger;
  adminToken: string;
  /** The built console (default: libs/console/dist through the @fleet/console package). */
  consoleDistDir?: string;
}

export interface PolicyDispatcher {
  router: Router;
  dispatcher: ChangeDispatcher;
  /** What each background job does (run by the worker; callable directly in tests). */
  jobHandlers: JobHandlers;
  policyDeps: PolicyDeps;
  /** The rollout progress streams of this replica. */
  rollouts: RolloutStreams;
  start(): Promise<void>;
  /** Ends the open rollout streams (first on shutdown, so the HTTP server can close). */
  drain(): void;
  /** Idempotent. */
  close(): Promise<void>;
}

export function createPolicyDispatcher(
  deps: PolicyDispatcherDeps,
  config: {
    dispatch: DispatchConfig;
    fleet: FleetDefaultsConfig;
    server: { version: string };
    uploads: UploadsConfig;
    actionUris: ActionUrisConfig;
    jobs: Pick<JobsConfig, 'remoteRevocationSearchRevisions'>;
  },
): PolicyDispatcher {
  const logger = deps.logger.child({ component: 'policy-dispatcher' });
  const dispatcher = new ChangeDispatcher(deps.store, deps.bus, logger, config.dispatch.feedPollIntervalMs);
  const jobHandlers = createFleetJobHandlers({
    store: deps.store,
    bus: deps.bus,
    jobs: deps.jobs,
    logger: deps.logger.child({ component: 'jobs' }),
    retainExpiredActionsMs: config.dispatch.retainExpiredActionsMs,
    sweepBatchSize: config.dispatch.inactiveSweepBatch,
    uploadExpiryMs: config.uploads.expiryMs,
    statusSampleIntervalMs: config.dispatch.statusSampleIntervalMs,
    remoteRevocationSearchRevisions: config.jobs.remoteRevocationSearchRevisions,
  });
  const policyDeps: PolicyDeps = { store: deps.store, changes: dispatcher, defaults: config.fleet, mutex: new KeyedMutex() };
  const agents: AgentAdminDeps = {
    store: deps.store,
    changes: dispatcher,
    bus: deps.bus,
    jobs: deps.jobs,
    actionExpirationDays: config.fleet.actionExpirationDays,
    serverVersion: config.server.version,
  };
  const uris = {
    upgradeSource: new UriAllowList(config.actionUris.upgradeSource, 'FLEET_UPGRADE_SOURCE_URI_ALLOW_LIST'),
    migrateTarget: new UriAllowList(config.actionUris.migrateTarget, 'FLEET_MIGRATE_TARGET_URI_ALLOW_LIST'),
  };
  const sessions = new ConsoleSessions(deps.adminToken, config.dispatch.consoleSessionTtlMs);
  const progress: RolloutProgressDeps = { store: deps.store, logger, ledger: deps.bus.ledger };
  const rollouts = new RolloutStreams(
    (target) => rolloutSnapshot(progress, target),
    {
      intervalMs: config.dispatch.rolloutIntervalMs,
      maxStreams: config.dispatch.rolloutStreamMax,
      maxDurationMs: config.dispatch.rolloutStreamMaxDurationMs,
      keepaliveMs: config.dispatch.rolloutStreamKeepaliveMs,
    },
    logger,
  );
  const router = Router();
  router.use(consoleRoutes({ logger, ...(deps.consoleDistDir ? { distDir: deps.consoleDistDir } : {}) }));
  router.use(consoleSessionRoutes({ store: deps.store, bootstrapToken: deps.adminToken, sessions, logger }));
  const consoleDeps = { board: deps.bus.board, statusSampleIntervalMs: config.dispatch.statusSampleIntervalMs };
  router.use(
    createManagementRouter({
      store: deps.store,
      policy: policyDeps,
      agents,
      adminToken: deps.adminToken,
      sessions,
      uris,
      console: consoleDeps,
      rollouts: { progress, streams: rollouts },
      version: config.server.version,
      logger,
    }),
  );
  let closing: Promise<void> | undefined;
  return {
    router,
    dispatcher,
    jobHandlers,
    policyDeps,
    rollouts,
    async start() {
      await dispatcher.start();
      await deps.jobs.startWorker(jobHandlers, {
        'gc-expired-actions': config.dispatch.actionSweepIntervalMs,
        'sweep-inactive-agents': config.dispatch.inactiveSweepIntervalMs,
        'expire-abandoned-uploads': config.dispatch.uploadSweepIntervalMs,
        'sample-agent-status': config.dispatch.statusSampleIntervalMs,
      });
    },
    drain() {
      rollouts.close();
    },
    close() {
      rollouts.close();
      closing ??= dispatcher.close();
      return closing;
    },
  };
}
