import {
  AgentCorruptedError,
  AgentIdentityError,
  AgentInactiveError,
  AgentNotFoundError,
  type ApiKeyAuthenticator,
  type ApiKeyCredentials,
} from '@fleet/service-kit';
import type { AgentDoc, FleetStore, Hit } from '@fleet/store';

type AuthDeps = { store: FleetStore; authenticator: ApiKeyAuthenticator };

/**
 * elastic/fleet-server's authAgent on the by-id path: a valid access key, an agent document under
 * the path id, bound to that key, and active.
 */
export async function authenticateAgent(deps: AuthDeps, creds: ApiKeyCredentials, agentId: string): Promise<Hit<AgentDoc>> {
  await deps.authenticator.authenticate(creds);
  const hit = await deps.store.agents.get(agentId);
  if (!hit) throw new AgentNotFoundError(agentId);
  return admit(deps, creds, hit, () => new AgentIdentityError());
}

/**
 * authAgent without an agent id in the path (artifacts, file delivery, uploads): a valid access
 * key, the agent document found by that key, and active.
 */
export async function authenticateAgentByKey(deps: AuthDeps, creds: ApiKeyCredentials): Promise<Hit<AgentDoc>> {
  await deps.authenticator.authenticate(creds);
  const hit = await deps.store.agents.findByAccessApiKeyId(creds.id);
  if (!hit) throw new AgentNotFoundError(`with access key ${creds.id}`);
  return admit(deps, creds, hit, () => new AgentCorruptedError());
}

/**
 * The checks after the look-up, in the reference's order: the document is intact, bound to the key
 * (a mismatch is an identity error on the by-id path, a corrupted document on the by-key path), and
 * active (an inactive agent's key is dropped from the cache).
 */
function admit(deps: AuthDeps, creds: ApiKeyCredentials, hit: Hit<AgentDoc>, keyMismatch: () => Error): Hit<AgentDoc> {
  const agent = hit._source;
  if (!agent.agent || typeof agent.agent !== 'object') throw new AgentCorruptedError();
  if (agent.access_api_key_id !== creds.id) throw keyMismatch();
  if (!agent.active) {
    deps.authenticator.forget([creds.id]);
    throw new AgentInactiveError();
  }
  return hit;
}
