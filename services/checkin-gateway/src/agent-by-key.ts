import { AgentCorruptedError, AgentInactiveError, AgentNotFoundError, type ApiKeyAuthenticator, type ApiKeyCredentials } from '@fleet/service-kit';
import type { AgentDoc, FleetStore, Hit } from '@fleet/store';

/**
 * elastic/fleet-server's authAgent without an agent id in the path (artifacts, file delivery, uploads): a
 * valid access key, the agent document found by that key, and active.
 */
export async function authenticateAgentByKey(
  deps: { store: FleetStore; authenticator: ApiKeyAuthenticator },
  creds: ApiKeyCredentials,
): Promise<Hit<AgentDoc>> {
  await deps.authenticator.authenticate(creds);
  const hit = await deps.store.agents.findByAccessApiKeyId(creds.id);
  if (!hit) throw new AgentNotFoundError(`with access key ${creds.id}`);
  const agent = hit._source;
  if (!agent.agent || typeof agent.agent !== 'object' || agent.access_api_key_id !== creds.id) throw new AgentCorruptedError();
  if (!agent.active) {
    deps.authenticator.forget([creds.id]);
    throw new AgentInactiveError();
  }
  return hit;
}
