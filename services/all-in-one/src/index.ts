export * from './all-in-one-config';
export * from './fleet-server';
