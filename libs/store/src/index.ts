export * from './documents';
export * from './store-port';
export * from './delivery-port';
export * from './upload-store';
export * from './management-store';
export * from './rollout-store';
export * from './errors';
export * from './agent-status';
export * from './agent-sort';
export * from './checkin-order';
export * from './secrets';
export { SqliteFleetStore, type SqliteStoreOptions } from './sqlite/sqlite-store';
export * from './agent-keys';
export {
  ElasticsearchFleetStore,
  type ElasticsearchStoreOptions,
  type ElasticsearchCapabilities,
} from './elasticsearch/es-store';
export type { ElasticsearchConnection } from './elasticsearch/es-client';
export * from './status-context';
export * from './action-secrets';
export * from './sealing';
export * from './secret-store';
export * from './policy-secrets';
export type { SecretKeys } from './sqlite/sqlite-secret-store';
export { FreshCall } from './fresh-call';
export * from './fleet-server-store';
export * from './output-health';
export * from './remote-outputs';
export * from './output-key-cluster';
export * from './output-credentials';
export * from './console-session-store';
