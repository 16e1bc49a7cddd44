import {
  AgentCorruptedError,
  AgentIdentityError,
  AgentInactiveError,
  AgentNotFoundError,
  type ApiKeyAuthenticator,
  type ApiKeyCredentials,
} from '@fleet/service-kit';
import type { AgentDoc, FleetStore, Hit } from '@fleet/store';

/**
 * elastic/fleet-server's authAgent on the by-id path: a valid access key, an agent document under
 * the path id, bound to that key, and active.
 */
export async function authenticateAgent(
  deps: { store: FleetStore; authenticator: ApiKeyAuthenticator },
  creds: ApiKeyCredentials,
  agentId: string,
): Promise<Hit<AgentDoc>> {
  await deps.authenticator.authenticate(creds);
  const hit = await deps.store.agents.get(agentId);
  if (!hit) throw new AgentNotFoundError(agentId);
  const agent = hit._source;
  if (!agent.agent || typeof agent.agent !== 'object') throw new AgentCorruptedError();
  if (agent.access_api_key_id !== creds.id) throw new AgentIdentityError();
  if (!agent.active) {
    deps.authenticator.forget([creds.id]);
    throw new AgentInactiveError();
  }
  return hit;
}
