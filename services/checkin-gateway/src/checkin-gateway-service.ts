import type { JobQueue } from '@fleet/background-jobs';
import type { NotificationBus } from '@fleet/notifications';
import {
  ApiKeyAuthenticator,
  HealthMonitor,
  replicaName,
  type ServiceMetrics,
  type AuthCacheConfig,
  type LeanRouter,
  type Logger,
  type ServerIdentityConfig,
  type StoreConfig,
} from '@fleet/service-kit';
import { RemoteOutputs, type FleetStore } from '@fleet/store';
import { Router } from 'express';
import { dirname, join, resolve } from 'node:path';
import { ActionLookupCache } from './acks';
import { ArtifactFetcher } from './artifacts';
import { ChangeDelivery } from './change-delivery';
import { AckTokenCache } from './ack-token-cache';
import type { GatewayConfig } from './gateway-config';
import { createDeliveryRouter } from './delivery-routes';
import { createGatewayRouter } from './gateway-routes';
import { createUploadRouter } from './upload-routes';
import { LongPollRegistry } from './long-poll-registry';
import { GatewayLoadReporter } from './load-reporter';
import { HeldPollVerifier, verificationTick } from './held-poll-verifier';
import { PolicyCache } from './policy-cache';
import { StatusWriteBuffer } from './status-write-buffer';
import { presenceAgentId, ServerPresence } from './server-presence';
import { RemoteOutputMonitor } from './remote-output-monitor';

export interface CheckinGatewayDeps {
  store: FleetStore;
  /** Deliveries are noted on `bus.ledger`, for the console's rollout progress. */
  bus: NotificationBus;
  jobs: Pick<JobQueue, 'enqueue'>;
  logger: Logger;
  authenticator?: ApiKeyAuthenticator;
  /** The process's health monitor, when the host already runs one (for its readiness probe). */
  health?: HealthMonitor;
  /** Where the gateway's gauges (open long polls) are registered. */
  metrics?: ServiceMetrics;
}

export interface CheckinGateway {
  router: Router;
  /** Serves the hot agent routes (checkin, acks) on the app's lean router, in front of Express. */
  mountLean(lean: LeanRouter | undefined): void;
  /** Artifacts, file delivery and the PGP key (mounted next to `router`). */
  deliveryRouter: Router;
  registry: LongPollRegistry;
  /** Publishes this replica's load (checkins/s, open long polls) for the console. */
  load: GatewayLoadReporter;
  policies: PolicyCache;
  statusWrites: StatusWriteBuffer;
  health: HealthMonitor;
  /** Wakes this replica's long polls from the policy and action feeds. */
  changes: ChangeDelivery;
  /** Verifies held polls again once their verification is as old as the auth cache TTL. */
  verifier: HeldPollVerifier;
  authenticator: ApiKeyAuthenticator;
  /** This replica checking in as a Fleet Server agent, when the presence is on. */
  presence: ServerPresence | undefined;
  /** The periodic check of remote Elasticsearch outputs (and their clients). */
  remoteMonitor: RemoteOutputMonitor;
  start(): Promise<void>;
  /** Answers every open long poll with 200 and its ack token; new checkins get 503. */
  drain(): number;
  /** Flushes pending status writes and stops background work. Idempotent. */
  close(): Promise<void>;
}

export function createCheckinGateway(
  deps: CheckinGatewayDeps,
  config: GatewayConfig & { auth: AuthCacheConfig; server: ServerIdentityConfig; store: Pick<StoreConfig, 'sqlite'> },
): CheckinGateway {
  const logger = deps.logger.child({ component: 'checkin-gateway' });
  const authenticator = deps.authenticator ?? new ApiKeyAuthenticator(deps.store.credentials, config.auth);
  const registry = new LongPollRegistry();
  const load = new GatewayLoadReporter({ board: deps.bus.board, replicaId: replicaName(config.server.replicaId), openLongPolls: () => registry.size, logger });
  const metrics = deps.metrics;
  metrics?.gauge('fleet_checkin_inflight_longpolls', 'Checkin long polls open on this replica.', () => registry.size);
  const policies = new PolicyCache(deps.store, logger);
  const remoteOutputs = new RemoteOutputs({ health: deps.store.outputHealth, ...config.remoteOutputs });
  const remoteMonitor = new RemoteOutputMonitor(remoteOutputs, logger.child({ component: 'remote-outputs' }), config.remoteOutputs.pingIntervalMs);
  const statusWrites = new StatusWriteBuffer(
    deps.store,
    config.statusWrites,
    logger,
    metrics?.counter('fleet_status_writes_dropped_total', 'Checkin status writes the store refused for what they held, dropped alone while the rest of their batch landed.', ['reason']),
  );
  metrics?.gauge('fleet_checkin_pending_status_writes', 'Agents whose checkin status waits in this replica for the next grouped write.', () => statusWrites.size);
  const rolloutLag = metrics?.histogram(
    'fleet_policy_rollout_lag_seconds',
    'From a policy revision being written to its delivery to an agent (observed per agent, at delivery).',
    [],
    [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
  );
  const health = deps.health ?? new HealthMonitor(deps.store, logger);
  const changes = new ChangeDelivery(
    { store: deps.store, bus: deps.bus, registry, policies, authenticator, logger },
    config.feedPollIntervalMs,
  );
  // A revocation whose notification was lost ends the polls within the auth cache TTL all the same.
  const verifier = new HeldPollVerifier(
    { store: deps.store, registry, authenticator, logger },
    { maxAgeMs: config.auth.ttlMs, tickMs: verificationTick(config.auth.ttlMs), concurrency: 8 },
  );
  const presence = config.presence.enabled
    ? new ServerPresence(
        { store: deps.store, bus: deps.bus, state: () => health.state, logger: logger.child({ component: 'presence' }) },
        config.presence,
        { agentId: presenceAgentId(config.server.replicaId), replicaName: replicaName(config.server.replicaId), version: config.server.version },
      )
    : undefined;
  let draining = false;
  let closing: Promise<void> | undefined;
  const agentRoutes = createGatewayRouter(
    {
      checkin: {
        store: deps.store,
        ackTokens: new AckTokenCache(),
        registry,
        policies,
        statusWrites,
        config: config.checkin,
        logger,
        actionsSeen: () => changes.actionsSeen(),
        deliveries: deps.bus.ledger,
        remoteOutputs,
        ...(rolloutLag ? { onPolicyDelivered: (lagSeconds: number) => rolloutLag.observe(lagSeconds) } : {}),
      },
      acks: { store: deps.store, bus: deps.bus, jobs: deps.jobs, authenticator, actionCache: new ActionLookupCache(deps.store), logger },
      store: deps.store,
      authenticator,
      health,
      logger,
      isDraining: () => draining,
      onCheckin: () => load.noteCheckin(),
      ...(metrics
        ? {
            outcomes: {
              checkins: metrics.counter('fleet_checkins_total', 'Checkins by outcome: delivered, timeout (nothing new), shutdown, aborted (agent left), rejected (4xx), limited (429), unavailable (503), failed (5xx).', ['outcome']),
              acks: metrics.counter('fleet_acks_total', 'Ack requests by outcome: ok, item_errors (some events refused), rejected (4xx), limited (429), unavailable (503), failed (5xx).', ['outcome']),
            },
          }
        : {}),
    },
    config,
    config.server.version,
  );
  const uploadRoutes = createUploadRouter(
    { store: deps.store, authenticator, uploads: { store: deps.store, config: config.uploads, logger: logger.child({ component: 'uploads' }) } },
    config,
  );
  const router = Router().use(agentRoutes.router, uploadRoutes);
  const deliveryRouter = createDeliveryRouter(
    {
      store: deps.store,
      authenticator,
      policies,
      artifacts: new ArtifactFetcher(deps.store, config.artifacts, logger),
      // Default: next to the other files of the data directory (the SQLite file's directory).
      pgpKeyFile: config.pgp.keyFile || join(resolve(dirname(config.store.sqlite.path)), 'default.pgp'),
      logger,
    },
    config.limits,
  );
  return {
    router,
    mountLean(lean) {
      if (lean) agentRoutes.mountLean(lean);
    },
    deliveryRouter,
    registry,
    load,
    policies,
    statusWrites,
    health,
    changes,
    verifier,
    authenticator,
    presence,
    remoteMonitor,
    async start() {
      await health.start();
      await changes.start();
      verifier.start();
      load.start();
      await presence?.start();
      remoteMonitor.start();
    },
    drain() {
      draining = true;
      health.markStopping();
      return registry.wakeAll('shutdown');
    },
    close() {
      closing ??= (async () => {
        draining = true;
        health.markStopping();
        registry.wakeAll('shutdown');
        await presence?.close();
        await remoteMonitor.close();
        load.close();
        await changes.close();
        verifier.close();
        await statusWrites.close();
      })();
      return closing;
    },
  };
}
