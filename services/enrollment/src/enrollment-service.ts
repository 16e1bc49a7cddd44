import type { JobQueue } from '@fleet/background-jobs';
import type { NotificationBus } from '@fleet/notifications';
import { ApiKeyAuthenticator, ConcurrencyGate, type Logger, type ServiceMetrics } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import type { Router } from 'express';
import type { EnrollmentServiceConfig } from './enrollment-config';
import { createEnrollRouter } from './enroll-routes';

export interface EnrollmentServiceDeps {
  store: FleetStore;
  bus: NotificationBus;
  jobs: Pick<JobQueue, 'enqueue'>;
  logger: Logger;
  /** Shared with the gateway in the all-in-one process, so a new key is already cached there. */
  authenticator?: ApiKeyAuthenticator;
  /** Where enrollments are counted by outcome. */
  metrics?: ServiceMetrics;
}

export interface EnrollmentService {
  router: Router;
  authenticator: ApiKeyAuthenticator;
}

export function createEnrollmentService(
  deps: EnrollmentServiceDeps,
  config: Pick<EnrollmentServiceConfig, 'enroll' | 'auth' | 'server'>,
): EnrollmentService {
  const authenticator = deps.authenticator ?? new ApiKeyAuthenticator(deps.store.credentials, config.auth);
  const router = createEnrollRouter(
    {
      store: deps.store,
      bus: deps.bus,
      jobs: deps.jobs,
      authenticator,
      logger: deps.logger.child({ component: 'enrollment' }),
      pbkdf2: config.enroll.pbkdf2,
      kdfGate: new ConcurrencyGate(config.enroll.pbkdf2, 'replace-token hashes'),
    },
    config.enroll,
    config.server.version,
    deps.metrics?.counter('fleet_enrollments_total', 'Enrollment requests by outcome: enrolled, rejected (4xx), limited (429), unavailable (503), failed (5xx).', ['outcome']),
  );
  return { router, authenticator };
}
