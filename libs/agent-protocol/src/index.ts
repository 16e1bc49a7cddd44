export * from './wire-types';
export * from './go-duration';
export * from './agent-client';
export * from './policy-action-id';
