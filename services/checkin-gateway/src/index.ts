export * from './gateway-config';
export * from './checkin-gateway-service';
export * from './long-poll-registry';
export * from './policy-cache';
export * from './status-write-buffer';
export { grantedPollMs } from './checkin';
export { unhealthyReason } from './checkin-status';
export * from './held-poll-verifier';
export { presenceAgentId, presenceHealth, ServerPresence, isReplicaDocument, type PresenceHealth, type PresenceIdentity } from './server-presence';
