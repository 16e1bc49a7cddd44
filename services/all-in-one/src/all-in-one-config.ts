import type convict from 'convict';
import { enrollSchema, type EnrollConfig } from '@fleet/enrollment';
import { gatewaySchema, type GatewayConfig } from '@fleet/checkin-gateway';
import {
  actionUrisSchema,
  dispatchSchema,
  fleetDefaultsSchema,
  type ActionUrisConfig,
  type DispatchConfig,
  type FleetDefaultsConfig,
} from '@fleet/policy-dispatcher';
import {
  adminSchema,
  authCacheSchema,
  baseServiceSchema,
  type AdminConfig,
  type AuthCacheConfig,
  type BaseServiceConfig,
} from '@fleet/service-kit';

export interface AllInOneConfig extends GatewayConfig, BaseServiceConfig {
  auth: AuthCacheConfig;
  admin: AdminConfig;
  actionUris: ActionUrisConfig;
  enroll: EnrollConfig;
  dispatch: DispatchConfig;
  fleet: FleetDefaultsConfig;
}

/**
 * The all-in-one process: the three services' schemas side by side, sharing the common parts
 * (same keys, same environment variables), listening on 8220.
 */
export const allInOneSchema: convict.Schema<AllInOneConfig> = {
  ...baseServiceSchema({ http: 8220, metrics: 9220 }),
  auth: authCacheSchema,
  admin: adminSchema,
  actionUris: actionUrisSchema,
  enroll: enrollSchema,
  ...gatewaySchema,
  dispatch: dispatchSchema,
  fleet: fleetDefaultsSchema,
};
