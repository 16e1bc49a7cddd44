export * from './enrollment-config';
export * from './enroll-agent';
export * from './enroll-routes';
export * from './enrollment-service';
