export * from './process-resources';
export * from './run-service';
