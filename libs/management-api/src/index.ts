export * from './agent-policy-schemas';
export * from './agent-schemas';
export * from './common-schemas';
export * from './enrollment-key-schemas';
export * from './management-key-schemas';
export * from './response-schemas';
export * from './route-table';
export * from './openapi';
