import { ConflictError, NotFoundError } from '@fleet/service-kit';
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

/** Keys of one policy read per page, and pages at most, when looking for a name in use. */
const NAME_PAGE = 1000;
const MAX_NAME_PAGES = 100;

/** The name a key was given: the stored name is `<name> (<id>)`, as Kibana stores it. */
const givenName = (doc: EnrollmentApiKeyDoc, id: string): string => {
  const suffix = ` (${id})`;
  return doc.name.endsWith(suffix) ? doc.name.slice(0, -suffix.length) : doc.name;
};

/** As Kibana: a policy has at most one active key of a given name (409 otherwise). */
async function assertKeyNameFree(store: FleetStore, policyId: string, name: string): Promise<void> {
  for (let page = 1; page <= MAX_NAME_PAGES; page++) {
    const res = await store.enrollmentKeys.list({ page, perPage: NAME_PAGE, policyId });
    if (res.items.some((h) => h._source.active && h._source.policy_id === policyId && givenName(h._source, h._id) === name)) {
      throw new ConflictError(`An enrollment key named ${name} already exists for agent policy ${policyId}`);
    }
    if (res.items.length < NAME_PAGE) return;
  }
}

/**
 * Creates an enrollment key for a policy; the returned view carries the token, once. A name given
 * must not be that of an active key of the same policy.
 */
export async function createEnrollmentKey(
  store: FleetStore,
  input: { policy_id: string; name?: string; expiration?: string },
  now: Date = new Date(),
): Promise<EnrollmentKeyView> {
  const policy = await getAgentPolicy(store, input.policy_id);
  if (input.name !== undefined) await assertKeyNameFree(store, policy.id, input.name);
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
