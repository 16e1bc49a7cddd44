import type convict from 'convict';
import { enrollSchema, type EnrollConfig } from '@fleet/enrollment';
import { gatewaySchema, type GatewayConfig } from '@fleet/checkin-gateway';
import { dispatchSchema, fleetDefaultsSchema, type DispatchConfig, type FleetDefaultsConfig } from '@fleet/policy-dispatcher';
import {
  adminSchema,
  authCacheSchema,
  busSchema,
  jobsSchema,
  metricsSchema,
  httpSchema,
  logSchema,
  serverIdentitySchema,
  storeSchema,
  type AdminConfig,
  type AuthCacheConfig,
  type BusConfig,
  type JobsConfig,
  type MetricsConfig,
  type HttpConfig,
  type LogConfig,
  type ServerIdentityConfig,
  type StoreConfig,
} from '@fleet/service-kit';

export interface AllInOneConfig extends GatewayConfig {
  bus: BusConfig;
  jobs: JobsConfig;
  metrics: MetricsConfig;
  log: LogConfig;
  http: HttpConfig;
  store: StoreConfig;
  server: ServerIdentityConfig;
  auth: AuthCacheConfig;
  admin: AdminConfig;
  enroll: EnrollConfig;
  dispatch: DispatchConfig;
  fleet: FleetDefaultsConfig;
}

/**
 * The all-in-one process: the three services' schemas side by side, sharing the common parts
 * (same keys, same environment variables), listening on 8220.
 */
export const allInOneSchema: convict.Schema<AllInOneConfig> = {
  log: logSchema,
  http: httpSchema(8220),
  store: storeSchema,
  server: serverIdentitySchema,
  auth: authCacheSchema,
  admin: adminSchema,
  enroll: enrollSchema,
  ...gatewaySchema,
  dispatch: dispatchSchema,
  fleet: fleetDefaultsSchema,
  bus: busSchema,
  jobs: jobsSchema,
  metrics: metricsSchema(9220),
};
