export * from './job-queue';
export * from './job-logger';
export * from './bullmq-job-queue';
export * from './in-process-job-queue';
export * from './fleet-job-handlers';
export * from './agent-revocation';
export * from './status-history';
