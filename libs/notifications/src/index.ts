export * from './notification-bus';
export * from './policy-debouncer';
export * from './redis-bus';
export * from './change-monitor';
