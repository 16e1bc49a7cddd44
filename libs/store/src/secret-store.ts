/**
 * The secrets of agent policies (Kibana's `.fleet-secrets`): values that a policy names only by
 * reference (`$co.elastic.secret{<id>}`, or `secrets.<path>.id`) and that the checkin gateway
 * resolves once per revision, at delivery (policy-secrets.ts). A sub-port of the store, on both
 * backends: Elasticsearch keeps them in `.fleet-secrets` (through the fleet module's
 * `/_fleet/secret` API, or the index itself where the module is absent); SQLite keeps them in a
 * table, sealed with AES-256-GCM (sealing.ts). Values are never logged by the store.
 */
export interface SecretStore {
  /**
   * The values of the ids that exist; ids that do not (or that cannot be opened) are absent from
   * the map. At most `MAX_SECRET_BATCH` ids per call (`RangeError` beyond).
   */
  get(ids: readonly string[]): Promise<Map<string, string>>;
  /** Stores a value (at most `MAX_SECRET_VALUE_BYTES`) under a new id, and returns the id. */
  create(value: string): Promise<string>;
  /** Deletes the ids that exist (at most `MAX_SECRET_BATCH`); returns how many were deleted. */
  delete(ids: readonly string[]): Promise<number>;
}

/** Ids per `get` or `delete` call. A revision with more references is read in several batches. */
export const MAX_SECRET_BATCH = 500;
/** A secret is a password, a token or a PEM key and chain: 256 KiB is plenty. */
export const MAX_SECRET_VALUE_BYTES = 256 * 1024;
/** Elasticsearch's limit on a document id (512 bytes); longer ids cannot exist. */
const MAX_SECRET_ID_BYTES = 512;

/** Rejects a batch over the bound; returns the distinct ids that could exist. */
export function secretBatch(ids: readonly string[]): string[] {
  if (ids.length > MAX_SECRET_BATCH) throw new RangeError(`at most ${MAX_SECRET_BATCH} secret ids per call (got ${ids.length})`);
  return [...new Set(ids)].filter((id) => typeof id === 'string' && id.length > 0 && Buffer.byteLength(id, 'utf8') <= MAX_SECRET_ID_BYTES);
}

/** Rejects a value that is not a string or is over the bound. */
export function checkSecretValue(value: string): void {
  if (typeof value !== 'string') throw new TypeError('a secret value is a string');
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_VALUE_BYTES) throw new RangeError(`a secret value is at most ${MAX_SECRET_VALUE_BYTES} bytes`);
}
