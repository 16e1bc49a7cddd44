import type { NotificationBus } from '@fleet/notifications';
import { agentKeyIds, outputKeyIds, remoteKeyRefs, type AgentDoc } from '@fleet/store';
import { enqueueRevocation, type JobQueue, type RevokeReason } from './job-queue';
import { remoteRevocationOf } from './remote-revocation';

export interface AgentRevocationDeps {
  jobs: Pick<JobQueue, 'enqueue'>;
  bus: Pick<NotificationBus, 'publish'>;
  /** This process's cache of verified keys, when it has one: forgotten at once. */
  forget?: (apiKeyIds: string[]) => void;
}

/**
 * Revokes a deactivated agent, the one way every path does it (an UNENROLL ack, a forced unenroll,
 * the inactivity sweep): its document is already written inactive, so a checkin racing this never
 * meets revoked keys on an active agent; then every key it holds is revoked by a durable job (remote outputs' keys on the clusters
 * they were made on; run inline when the queue is down), and every gateway is told to end its open polls. Returns the keys.
 */
export async function revokeAgent(deps: AgentRevocationDeps, agentId: string, deactivated: AgentDoc, reason: RevokeReason): Promise<string[]> {
  const keys = agentKeyIds(deactivated);
  // Keys of remote outputs live on their clusters: revoked there, not on this store's; output
  // keys where they were made (outputKeyTarget), which is not this store with built-in credentials.
  const remote = remoteKeyRefs(deactivated);
  const remoteIds = new Set(remote.map((r) => r.id));
  const outputIds = outputKeyIds(deactivated);
  const separate = new Set([...remoteIds, ...outputIds]);
  await enqueueRevocation(deps.jobs, {
    api_key_ids: keys.filter((id) => !separate.has(id)),
    ...(outputIds.length ? { output_api_key_ids: outputIds } : {}),
    agent_id: agentId,
    reason,
    ...(remote.length ? { remote: remoteRevocationOf(deactivated.policy_id, remote) } : {}),
  });
  deps.forget?.(keys);
  await deps.bus.publish({ kind: 'agent-revoked', agent_id: agentId, api_key_ids: keys });
  return keys;
}
