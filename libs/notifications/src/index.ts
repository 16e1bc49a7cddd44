export * from './notification-bus';
export * from './policy-debouncer';
export * from './redis-bus';
export * from './redis-tls-connector';
export * from './change-monitor';
export * from './cluster-board';
export * from './gateway-load';
export * from './delivery-ledger';
