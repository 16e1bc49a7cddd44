import type { RemoteKeyRef } from '@fleet/store';
import type { RemoteRevocation } from './job-queue';

/** The job payload of an agent's remote keys (ids and hashes, never a token). */
export function remoteRevocationOf(agentPolicyId: string, refs: RemoteKeyRef[]): RemoteRevocation {
  const outputs: Record<string, string[]> = {};
  const madeOn: NonNullable<RemoteRevocation['made_on']> = {};
  for (const ref of refs) {
    (outputs[ref.output] ??= []).push(ref.id);
    if (ref.policyId || ref.hostsHash) {
      madeOn[ref.id] = { ...(ref.policyId ? { policy_id: ref.policyId } : {}), ...(ref.hostsHash ? { hosts_hash: ref.hostsHash } : {}) };
    }
  }
  return { policy_id: agentPolicyId, outputs, ...(Object.keys(madeOn).length ? { made_on: madeOn } : {}) };
}

/** The keys of a job payload; one enqueued before `made_on` existed gives keys found by output name. */
export function remoteKeyRefsOf(remote: RemoteRevocation): RemoteKeyRef[] {
  return Object.entries(remote.outputs).flatMap(([output, ids]) =>
    ids.map((id) => {
      const made = remote.made_on?.[id];
      return { id, output, ...(made?.policy_id ? { policyId: made.policy_id } : {}), ...(made?.hosts_hash ? { hostsHash: made.hosts_hash } : {}) };
    }),
  );
}
