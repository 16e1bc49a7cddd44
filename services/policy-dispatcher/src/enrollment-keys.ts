import { NotFoundError } from '@fleet/service-kit';
import { newId, type EnrollmentApiKeyDoc, type FleetStore, type Hit } from '@fleet/store';
import { getAgentPolicy } from './agent-policies';

export interface EnrollmentKeyView {
  id: string;
  api_key_id: string;
  /** Only in the answer to the creation: the token is never stored. */
  api_key?: string;
  name: string;
  active: boolean;
  policy_id: string;
  created_at: string;
  expire_at?: string;
}

export const enrollmentKeyView = (hit: Hit<EnrollmentApiKeyDoc>): EnrollmentKeyView => ({
  id: hit._id,
  api_key_id: hit._source.api_key_id,
  name: hit._source.name,
  active: hit._source.active,
  policy_id: hit._source.policy_id,
  created_at: hit._source.created_at,
  ...(hit._source.expire_at ? { expire_at: hit._source.expire_at } : {}),
});

/** Creates an enrollment key for a policy; the returned view carries the token, once. */
export async function createEnrollmentKey(
  store: FleetStore,
  input: { policy_id: string; name?: string; expiration?: string },
  now: Date = new Date(),
): Promise<EnrollmentKeyView> {
  const policy = await getAgentPolicy(store, input.policy_id);
  const id = newId();
  // Kibana's enrollment keys: metadata as Kibana writes it, and no Elasticsearch privileges.
  const key = await store.credentials.create({
    name: `Fleet enrollment key ${id}`,
    metadata: { policy_id: policy.id, managed: true, managed_by: 'fleet', type: 'enroll' },
    roleDescriptors: { 'fleet-apikey-enroll': { cluster: [], index: [], applications: [{ application: 'fleet', privileges: ['no-privileges'], resources: ['*'] }] } },
  });
  const doc: EnrollmentApiKeyDoc = {
    active: true,
    api_key_id: key.id,
    name: `${input.name ?? 'Default'} (${id})`,
    policy_id: policy.id,
    created_at: now.toISOString(),
    ...(input.expiration ? { expire_at: input.expiration } : {}),
  };
  const hit = await store.enrollmentKeys.create(id, doc);
  return { ...enrollmentKeyView(hit), api_key: key.token };
}

/** Revokes an enrollment key: it stops enrolling at once on this replica, within the auth cache TTL elsewhere. */
export async function revokeEnrollmentKey(store: FleetStore, id: string, now: Date = new Date()): Promise<void> {
  const hit = await store.enrollmentKeys.get(id);
  if (!hit) throw new NotFoundError(`Enrollment API key ${id} not found`);
  await store.credentials.invalidate([hit._source.api_key_id]);
  await store.enrollmentKeys.update(id, { active: false, updated_at: now.toISOString() });
}

export async function getEnrollmentKey(store: FleetStore, id: string): Promise<EnrollmentKeyView> {
  const hit = await store.enrollmentKeys.get(id);
  if (!hit) throw new NotFoundError(`Enrollment API key ${id} not found`);
  return enrollmentKeyView(hit);
}
