import type { NotificationBus } from '@fleet/notifications';
import type { Logger } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import type { Router } from 'express';
import type { AgentAdminDeps } from './agent-management';
import type { PolicyDeps } from './agent-policies';
import { ActionJanitor } from './action-janitor';
import { ChangeDispatcher } from './change-dispatcher';
import type { DispatchConfig, FleetDefaultsConfig } from './dispatcher-config';
import { KeyedMutex } from './keyed-mutex';
import { createManagementRouter } from './management-routes';

export interface PolicyDispatcherDeps {
  store: FleetStore;
  bus: NotificationBus;
  logger: Logger;
  adminToken: string;
}

export interface PolicyDispatcher {
  router: Router;
  dispatcher: ChangeDispatcher;
  janitor: ActionJanitor;
  policyDeps: PolicyDeps;
  start(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

export function createPolicyDispatcher(
  deps: PolicyDispatcherDeps,
  config: { dispatch: DispatchConfig; fleet: FleetDefaultsConfig; server: { version: string } },
): PolicyDispatcher {
  const logger = deps.logger.child({ component: 'policy-dispatcher' });
  const dispatcher = new ChangeDispatcher(deps.store, deps.bus, logger, config.dispatch.feedPollIntervalMs);
  const janitor = new ActionJanitor(
    deps.store,
    { intervalMs: config.dispatch.actionSweepIntervalMs, retainExpiredMs: config.dispatch.retainExpiredActionsMs },
    logger,
  );
  const policyDeps: PolicyDeps = { store: deps.store, defaults: config.fleet, mutex: new KeyedMutex() };
  const agents: AgentAdminDeps = {
    store: deps.store,
    bus: deps.bus,
    actionExpirationDays: config.fleet.actionExpirationDays,
    serverVersion: config.server.version,
  };
  const router = createManagementRouter({ store: deps.store, policy: policyDeps, agents, adminToken: deps.adminToken, logger });
  let closing: Promise<void> | undefined;
  return {
    router,
    dispatcher,
    janitor,
    policyDeps,
    async start() {
      await dispatcher.start();
      janitor.start();
    },
    close() {
      janitor.close();
      closing ??= dispatcher.close();
      return closing;
    },
  };
}
