import { fuzzApp, pathSegment, sendAndCheck, type FuzzApp, type FuzzRequest } from '../support/fleet-app';
import { readInput } from '../support/fuzz-input';

/**
 * The management API's request bodies and query strings through the real pipeline, as the admin:
 * policies, enrollment keys, actions, reassign, upgrade, unenroll, diagnostics, and the agent list's
 * query (kuery, paging). Unenroll and reassign aim at spare agents, so the main one stays usable.
 */
export const ROUTES = [
  'policy-create',
  'policy-update',
  'policy-delete',
  'enrollment-key-create',
  'action',
  'reassign',
  'upgrade',
  'unenroll',
  'request-diagnostics',
  'bulk-request-diagnostics',
  'agents-query',
  'policies-query',
  'agent-path',
] as const;

function build(app: FuzzApp, route: (typeof ROUTES)[number], rest: Buffer): FuzzRequest {
  const headers = { authorization: app.adminAuth, 'content-type': 'application/json' };
  const post = (path: string): FuzzRequest => ({ method: 'POST', path, headers, body: rest });
  const spare = app.spare[rest.length % app.spare.length]!;
  switch (route) {
    case 'policy-create':
      return post('/api/fleet/agent_policies');
    case 'policy-update':
      return { method: 'PUT', path: `/api/fleet/agent_policies/${app.policyId}`, headers, body: rest };
    case 'policy-delete':
      return post('/api/fleet/agent_policies/delete');
    case 'enrollment-key-create':
      return post('/api/fleet/enrollment_api_keys');
    case 'action':
      return post(`/api/fleet/agents/${app.agent.id}/actions`);
    case 'reassign':
      return post(`/api/fleet/agents/${spare.id}/reassign`);
    case 'upgrade':
      return post(`/api/fleet/agents/${app.agent.id}/upgrade`);
    case 'unenroll':
      return post(`/api/fleet/agents/${spare.id}/unenroll`);
    case 'request-diagnostics':
      return post(`/api/fleet/agents/${app.agent.id}/request_diagnostics`);
    case 'bulk-request-diagnostics':
      return post('/api/fleet/agents/bulk_request_diagnostics');
    case 'agents-query':
      return { method: 'GET', path: `/api/fleet/agents?${queryString(rest)}`, headers: { authorization: app.adminAuth } };
    case 'policies-query':
      return { method: 'GET', path: `/api/fleet/agent_policies?${queryString(rest)}`, headers: { authorization: app.adminAuth } };
    case 'agent-path':
      return { method: 'GET', path: `/api/fleet/agents/${pathSegment(rest.subarray(0, 200))}`, headers: { authorization: app.adminAuth } };
  }
}

/** Bytes as a query string: `=` and `&` kept, so a seed like `kuery=status:online&perPage=5` stays one. */
function queryString(bytes: Buffer): string {
  let out = '';
  for (const b of bytes.subarray(0, 4096)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._~!$'()*+,;=:@%&/?-]/.test(c) ? c : `%${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export async function fuzz(data: Buffer): Promise<void> {
  const app = await fuzzApp();
  const { route, rest } = readInput(data, ROUTES.length);
  await sendAndCheck(app, build(app, ROUTES[route]!, rest));
}
