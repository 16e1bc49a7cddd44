import { NotFoundError } from '@fleet/service-kit';
import {
  DocumentNotFoundError,
  issueManagementKey,
  type FleetStore,
  type ManagementKeyRecord,
  type ManagementRole,
  type Page,
  type PageRequest,
} from '@fleet/store';

/** A management key as the API shows it: never its hash. */
export type ManagementKeyView = Omit<ManagementKeyRecord, 'hash'>;

const view = ({ hash: _hash, ...rest }: ManagementKeyRecord): ManagementKeyView => rest;

/** Creates a key; the answer is the only place its token (`api_key`) ever appears. */
export async function createManagementKey(
  store: FleetStore,
  input: { name: string; role: ManagementRole },
  createdBy: string,
): Promise<ManagementKeyView & { api_key: string }> {
  const issued = issueManagementKey({ ...input, createdBy, now: new Date() });
  await store.managementKeys.create(issued.record);
  return { ...view(issued.record), api_key: issued.token };
}

export async function listManagementKeys(store: FleetStore, page: PageRequest): Promise<Page<ManagementKeyView>> {
  const result = await store.managementKeys.list(page);
  return { total: result.total, items: result.items.map(view) };
}

export async function getManagementKey(store: FleetStore, id: string): Promise<ManagementKeyView> {
  const record = await store.managementKeys.get(id);
  if (!record) throw new NotFoundError(`Management API key ${id} not found`);
  return view(record);
}

/** Revokes a key at once (every replica reads keys on each call); revoking again changes nothing. */
export async function revokeManagementKey(store: FleetStore, id: string, by: string): Promise<ManagementKeyView> {
  try {
    return view(await store.managementKeys.revoke(id, by, new Date().toISOString()));
  } catch (err) {
    if (err instanceof DocumentNotFoundError) throw new NotFoundError(`Management API key ${id} not found`);
    throw err;
  }
}
