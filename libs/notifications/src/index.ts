export * from './notification-bus';
