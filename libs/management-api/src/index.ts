export * from './agent-policy-schemas';
export * from './agent-schemas';
export * from './common-schemas';
export * from './enrollment-key-schemas';
export * from './management-key-schemas';
