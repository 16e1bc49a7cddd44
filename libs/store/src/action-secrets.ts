import type { ActionDoc, JsonObject, JsonValue } from './documents';
import { openValue, sealValue, SealingKeyError } from './sealing';
import type { ActionStore } from './store-port';

/**
 * Secrets that actions carry to agents: MIGRATE's enrollment token for the new Fleet, and
 * PRIVILEGE_LEVEL_CHANGE's password of the user the agent will run as. They are sealed (AES-256-GCM,
 * bound to the action id) when the action is written, opened only when it is read back for
 * delivery, and never shown by the management API (`redactActionSecrets`).
 */
const SECRET_PATHS: Readonly<Record<string, readonly (readonly string[])[]>> = {
  MIGRATE: [['enrollment_token']],
  PRIVILEGE_LEVEL_CHANGE: [['user_info', 'password']],
};

const PREFIX = 'fleet-sealed:v1:';
const REDACTED = '[redacted]';

const asObject = (v: JsonValue | undefined): JsonObject | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;

/** A copy of `data` with the value at each secret path of `type` replaced by `fn(value)`. */
function mapSecrets(type: string, data: JsonValue | undefined, fn: (value: string) => string): JsonValue | undefined {
  const paths = SECRET_PATHS[type];
  const root = asObject(data);
  if (!paths || !root) return data;
  const copy = structuredClone(root);
  for (const path of paths) {
    let parent: JsonObject | undefined = copy;
    for (const key of path.slice(0, -1)) parent = asObject(parent?.[key]);
    const leaf = path[path.length - 1] ?? '';
    const value = parent?.[leaf];
    if (parent && typeof value === 'string' && value !== '') parent[leaf] = fn(value);
  }
  return copy;
}

/** `data` as the management API shows it: secret values replaced by `[redacted]`. */
export const redactActionSecrets = (type: string, data: JsonValue | undefined): JsonValue | undefined =>
  mapSecrets(type, data, () => REDACTED);

/** Seals and opens action secrets with one 256-bit key (see sealing.ts), bound to the action id. */
export class ActionSealer {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new SealingKeyError('the action secrets key must be 32 bytes');
  }

  seal(doc: ActionDoc): ActionDoc {
    if (!SECRET_PATHS[doc.type] || doc.data === undefined) return doc;
    const data = mapSecrets(doc.type, doc.data, (value) => (value.startsWith(PREFIX) ? value : PREFIX + sealValue(this.key, value, doc.action_id).toString('base64')));
    return data === undefined ? doc : { ...doc, data };
  }

  open(doc: ActionDoc): ActionDoc {
    if (!SECRET_PATHS[doc.type] || doc.data === undefined) return doc;
    // Another key (a replica given a different key file), or a damaged value: the value stays
    // sealed, so the agent's action fails (and says so in its ack) without anything leaking.
    const data = mapSecrets(doc.type, doc.data, (value) =>
      value.startsWith(PREFIX) ? (openValue(this.key, Buffer.from(value.slice(PREFIX.length), 'base64'), doc.action_id) ?? value) : value,
    );
    return data === undefined ? doc : { ...doc, data };
  }
}

/** An action store that seals secrets on the way in and opens them on the way out. */
export function withSealedSecrets(inner: ActionStore, sealer: ActionSealer): ActionStore {
  const open = <H extends { _source: ActionDoc } | undefined>(hit: H): H => (hit ? { ...hit, _source: sealer.open(hit._source) } : hit);
  return {
    create: async (doc, id) => {
      const hit = await inner.create(sealer.seal(doc), id);
      return { ...hit, _source: doc };
    },
    get: async (docId) => open(await inner.get(docId)),
    findByActionId: async (actionId) => open(await inner.findByActionId(actionId)),
    findForAgent: async (actionId, agentId) => open(await inner.findForAgent(actionId, agentId)),
    listForAgent: async (query) => {
      const page = await inner.listForAgent(query);
      return { total: page.total, items: page.items.map(open) };
    },
    pendingFor: async (query) => (await inner.pendingFor(query)).map(open),
    changesSince: async (after, limit) => (await inner.changesSince(after, limit)).map(open),
    checkpoint: () => inner.checkpoint(),
    awaitVisible: (seqNo) => inner.awaitVisible(seqNo),
    deleteExpiredBefore: (before) => inner.deleteExpiredBefore(before),
  };
}
