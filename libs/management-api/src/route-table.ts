import { z } from 'zod';
import { agentPolicyAnswer, agentPolicyCreateBody, agentPolicyDeleteBody, agentPolicyItem, agentPolicyUpdateBody } from './agent-policy-schemas';
import {
  AGENT_SORT_FIELDS,
  agentActionBody,
  agentItem,
  agentReassignBody,
  agentUnenrollBody,
  agentUpdateBody,
  agentUpgradeBody,
  bulkAgentsField,
  bulkReassignBody,
  bulkTagsBody,
  bulkUnenrollBody,
  bulkUpgradeBody,
} from './agent-schemas';
import { pageFields, pageOf, pageQuery, withinResultWindow } from './common-schemas';
import { enrollmentKeyCreateBody, enrollmentKeyItem } from './enrollment-key-schemas';
import { managementKeyCreateBody, type ManagementRole } from './management-key-schemas';
import {
  actionHistoryItem,
  agentActionItem,
  agentPolicyDeleted,
  agentStatusSummary,
  agentUploadItem,
  auditRecordItem,
  bulkAnswer,
  consoleMetrics,
  consoleSessionItem,
  emptyAnswer,
  fullAgentPolicy,
  managementKeyCreated,
  managementKeyItem,
  policyRevisionSummary,
  rolloutSnapshot,
  statusSample,
} from './response-schemas';

/** Every role: every read of the management API. */
export const READ_ROLES: readonly ManagementRole[] = ['read-only', 'operator', 'admin'];
/** What acts on agents. */
export const OPERATOR_ROLES: readonly ManagementRole[] = ['operator', 'admin'];
/** Agent policies, enrollment tokens, management keys. */
export const ADMIN_ROLES: readonly ManagementRole[] = ['admin'];
/** The audit trail and the key list (not operators). */
export const OVERSIGHT_ROLES: readonly ManagementRole[] = ['read-only', 'admin'];

export type HttpMethod = 'get' | 'post' | 'put' | 'delete';
export type RouteTag = 'agent policies' | 'enrollment tokens' | 'agents' | 'diagnostics' | 'console' | 'rollouts' | 'management keys' | 'audit' | 'api';

/**
 * Who may call a route: management roles (a bearer management key, the admin token, or a console
 * session), or `public` (the console's sign-in and sign-out, which authenticate themselves).
 */
export type RouteAuth = readonly ManagementRole[] | 'public';

/** A 200 answer that is not JSON. */
export type RawAnswer = { contentType: 'application/octet-stream' | 'text/event-stream'; description: string };

export interface RouteSpec<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType | RawAnswer = z.ZodType | RawAnswer,
> {
  method: HttpMethod;
  /** The OpenAPI path (`/api/fleet/agent_policies/{id}`). */
  path: `/api/fleet/${string}`;
  operationId: string;
  summary: string;
  description?: string;
  tag: RouteTag;
  roles: RouteAuth;
  params?: P;
  query?: Q;
  body?: B;
  /** An empty body is `{}` (the route takes none, or every field is optional). */
  bodyOptional?: boolean;
  maxBodyBytes?: number;
  /** The 200 answer: a JSON schema, or another content type. */
  response: R;
  /** Failures particular to the route (the common ones are added by `errorStatuses`). */
  errors?: readonly number[];
  /** The answer carries `ETag: "<revision>"`. */
  etag?: boolean;
  /** Honours `If-Match: "<revision>"` (412 on a mismatch). */
  ifMatch?: boolean;
  /** OpenAPI links of the 200 answer: operations that take what it returns (`$response.body#/item/id`). */
  links?: readonly RouteLink[];
}

export interface RouteLink {
  operationId: string;
  /** Parameter name to runtime expression. */
  parameters: Readonly<Record<string, string>>;
}

/** Links from an answer `{item: {id}}` to the operations that take that id as `{id}`. */
const itemIdLinks = (...operationIds: string[]): RouteLink[] => operationIds.map((operationId) => ({ operationId, parameters: { id: '$response.body#/item/id' } }));

const route = <P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType, R extends z.ZodType | RawAnswer = z.ZodType | RawAnswer>(
  spec: RouteSpec<P, Q, B, R>,
): RouteSpec<P, Q, B, R> => spec;

/** A path parameter: 1 to `max` characters. */
const segment = (max = 256) => z.string().min(1).max(max);
const idParams = (max = 256) => z.object({ id: segment(max) });
const revisionSegment = z
  .string()
  .regex(/^\d{1,9}$/, 'must be a non-negative integer')
  .transform(Number);

/** `?force=true` on `DELETE /agent_policies/{id}`. */
export const agentPolicyDeleteQuery = z.object({ force: z.enum(['true', 'false']).optional() });

/** `GET /agents`: paging, kuery, and the sort (Kibana's UI names keyword fields with `.keyword`). */
export const agentListQuery = withinResultWindow(
  pageFields.extend({
    sortField: z.preprocess((v) => (typeof v === 'string' ? v.replace(/\.keyword$/, '') : v), z.enum(AGENT_SORT_FIELDS).default('enrolled_at')),
    sortOrder: z.enum(['asc', 'desc']).default('desc'),
  }),
);

/** The console's reads (status counts and history, tags, an agent's actions, policy revisions). */
export const consoleQueries = {
  status: z.object({ policyId: z.string().min(1).max(256).optional(), kuery: z.string().max(2048).optional() }).strict(),
  history: z.object({ hours: z.coerce.number().int().min(1).max(24).default(24) }).strict(),
  tags: z.object({ kuery: z.string().max(2048).optional(), showInactive: z.enum(['true', 'false']).optional() }).strict(),
  actionHistory: z.object({ perPage: z.coerce.number().int().min(1).max(100).default(20) }).strict(),
  revisions: withinResultWindow(z.object({ page: z.coerce.number().int().min(1).default(1), perPage: z.coerce.number().int().min(1).max(100).default(20) }).strict()),
};

/** Diagnostics: the extra metrics an agent may add to its bundle. */
const diagnosticsMetrics = z.array(z.enum(['CPU'])).max(10).optional();
export const diagnosticsRequestBody = z.object({ additional_metrics: diagnosticsMetrics }).strict();
export const bulkDiagnosticsBody = z.object({ agents: bulkAgentsField, batchSize: z.number().int().min(1).optional(), additional_metrics: diagnosticsMetrics }).strict();

/** `GET /rollouts/policies/{policyId}`: a revision other than the latest. */
export const rolloutPolicyQuery = z.object({ revision: z.coerce.number().int().min(0).max(2 ** 31).optional() });

/** `POST /console/session`: a token, once. */
export const consoleSignInBody = z.object({ token: z.string().min(1).max(512) }).strict();

const MIB = 1024 * 1024;
/** What create and update say of the answer's `warnings`. */
const OUTPUT_WARNINGS =
  "The answer's `warnings` name each output whose agents will get no API key of their own, because this server cannot make one where the output points, and say why: those agents receive the credentials written in the output (the same for all of them), or none. Reads of the policy answer them too.";

const item = <T extends z.ZodType>(schema: T) => z.object({ item: schema });

/**
 * Every `/api/fleet/...` route the policy dispatcher serves: the single source of its routing,
 * roles and validation, and of the OpenAPI document.
 */
export const managementRoutes = {
  // ---- agent policies -----------------------------------------------------------------------
  createAgentPolicy: route({
    method: 'post', path: '/api/fleet/agent_policies', operationId: 'createAgentPolicy', tag: 'agent policies', roles: ADMIN_ROLES,
    summary: 'Create an agent policy (revision 1)',
    description: OUTPUT_WARNINGS,
    body: agentPolicyCreateBody, maxBodyBytes: MIB, response: agentPolicyAnswer, errors: [409],
    links: itemIdLinks('getAgentPolicy', 'getFullAgentPolicy', 'updateAgentPolicy', 'listAgentPolicyRevisions', 'deleteAgentPolicy'),
  }),
  listAgentPolicies: route({
    method: 'get', path: '/api/fleet/agent_policies', operationId: 'listAgentPolicies', tag: 'agent policies', roles: READ_ROLES,
    summary: 'List agent policies (`withAgentCount=true` adds each one\'s agent count)',
    query: pageQuery, response: pageOf(agentPolicyItem),
  }),
  bulkDeleteAgentPolicy: route({
    method: 'post', path: '/api/fleet/agent_policies/delete', operationId: 'deleteAgentPolicyByBody', tag: 'agent policies', roles: ADMIN_ROLES,
    summary: 'Delete an agent policy (Kibana\'s form; `force: true` unenrolls its agents first)',
    body: agentPolicyDeleteBody, maxBodyBytes: MIB, response: agentPolicyDeleted, errors: [404, 412], ifMatch: true,
  }),
  getAgentPolicy: route({
    method: 'get', path: '/api/fleet/agent_policies/{id}', operationId: 'getAgentPolicy', tag: 'agent policies', roles: READ_ROLES,
    summary: 'Read an agent policy; `ETag` is its revision',
    params: idParams(), response: agentPolicyAnswer, errors: [404], etag: true,
  }),
  getFullAgentPolicy: route({
    method: 'get', path: '/api/fleet/agent_policies/{id}/full', operationId: 'getFullAgentPolicy', tag: 'agent policies', roles: READ_ROLES,
    summary: 'The agent-facing policy of its latest revision',
    params: idParams(), response: item(fullAgentPolicy), errors: [404],
  }),
  updateAgentPolicy: route({
    method: 'put', path: '/api/fleet/agent_policies/{id}', operationId: 'updateAgentPolicy', tag: 'agent policies', roles: ADMIN_ROLES,
    summary: 'Change an agent policy (a new revision); `If-Match` makes it conditional',
    description: OUTPUT_WARNINGS,
    params: idParams(), body: agentPolicyUpdateBody, maxBodyBytes: MIB, response: agentPolicyAnswer, errors: [404, 409, 412], etag: true, ifMatch: true,
  }),
  deleteAgentPolicy: route({
    method: 'delete', path: '/api/fleet/agent_policies/{id}', operationId: 'deleteAgentPolicy', tag: 'agent policies', roles: ADMIN_ROLES,
    summary: 'Delete an agent policy (`force=true` unenrolls its agents first)',
    params: idParams(), query: agentPolicyDeleteQuery, response: agentPolicyDeleted, errors: [404, 412], ifMatch: true,
  }),
  listAgentPolicyRevisions: route({
    method: 'get', path: '/api/fleet/agent_policies/{id}/revisions', operationId: 'listAgentPolicyRevisions', tag: 'agent policies', roles: READ_ROLES,
    summary: 'A policy\'s revisions, newest first',
    params: idParams(), query: consoleQueries.revisions,
    response: z.object({ items: z.array(policyRevisionSummary), total: z.number().int(), page: z.number().int(), perPage: z.number().int() }), errors: [404],
  }),
  getAgentPolicyRevision: route({
    method: 'get', path: '/api/fleet/agent_policies/{id}/revisions/{revision}', operationId: 'getAgentPolicyRevision', tag: 'agent policies', roles: READ_ROLES,
    summary: 'One revision\'s agent-facing policy',
    params: z.object({ id: segment(), revision: revisionSegment }),
    response: item(z.object({ revision_idx: z.number().int(), created_at: z.string(), data: fullAgentPolicy })), errors: [404],
  }),

  // ---- enrollment tokens --------------------------------------------------------------------
  createEnrollmentKey: route({
    method: 'post', path: '/api/fleet/enrollment_api_keys', operationId: 'createEnrollmentKey', tag: 'enrollment tokens', roles: ADMIN_ROLES,
    summary: 'Create an enrollment token for a policy (its `api_key` is shown once)',
    body: enrollmentKeyCreateBody, maxBodyBytes: MIB, response: z.object({ item: enrollmentKeyItem, action: z.literal('created') }), errors: [404, 409],
    links: itemIdLinks('getEnrollmentKey', 'revokeEnrollmentKey'),
  }),
  listEnrollmentKeys: route({
    method: 'get', path: '/api/fleet/enrollment_api_keys', operationId: 'listEnrollmentKeys', tag: 'enrollment tokens', roles: READ_ROLES,
    summary: 'List enrollment tokens (`kuery=policy_id:X` filters by policy)',
    query: pageQuery,
    response: z.object({ items: z.array(enrollmentKeyItem), list: z.array(enrollmentKeyItem), total: z.number().int(), page: z.number().int(), perPage: z.number().int() }),
  }),
  getEnrollmentKey: route({
    method: 'get', path: '/api/fleet/enrollment_api_keys/{id}', operationId: 'getEnrollmentKey', tag: 'enrollment tokens', roles: READ_ROLES,
    summary: 'Read an enrollment token (never its secret)',
    params: idParams(), response: item(enrollmentKeyItem), errors: [404],
  }),
  revokeEnrollmentKey: route({
    method: 'delete', path: '/api/fleet/enrollment_api_keys/{id}', operationId: 'revokeEnrollmentKey', tag: 'enrollment tokens', roles: ADMIN_ROLES,
    summary: 'Revoke an enrollment token',
    params: idParams(), response: z.object({ action: z.literal('deleted') }), errors: [404],
  }),

  // ---- diagnostics (before /agents/{id}: `files` and `bulk_request_diagnostics` are no agent ids) --
  bulkRequestDiagnostics: route({
    method: 'post', path: '/api/fleet/agents/bulk_request_diagnostics', operationId: 'bulkRequestDiagnostics', tag: 'diagnostics', roles: OPERATOR_ROLES,
    summary: 'Ask agents (ids or a kuery) for a diagnostics bundle',
    body: bulkDiagnosticsBody, bodyOptional: true, maxBodyBytes: 64 * 1024, response: z.object({ actionId: z.string() }),
  }),
  getAgentFile: route({
    method: 'get', path: '/api/fleet/agents/files/{fileId}/{fileName}', operationId: 'getAgentFile', tag: 'diagnostics', roles: READ_ROLES,
    summary: 'Download an uploaded diagnostics bundle',
    params: z.object({ fileId: segment(512), fileName: segment(512) }),
    response: { contentType: 'application/octet-stream', description: 'The file, streamed' }, errors: [404],
  }),
  requestDiagnostics: route({
    method: 'post', path: '/api/fleet/agents/{id}/request_diagnostics', operationId: 'requestDiagnostics', tag: 'diagnostics', roles: OPERATOR_ROLES,
    summary: 'Ask one agent for a diagnostics bundle',
    params: idParams(512), body: diagnosticsRequestBody, bodyOptional: true, maxBodyBytes: 64 * 1024, response: z.object({ actionId: z.string() }), errors: [404],
  }),
  listAgentUploads: route({
    method: 'get', path: '/api/fleet/agents/{id}/uploads', operationId: 'listAgentUploads', tag: 'diagnostics', roles: READ_ROLES,
    summary: 'An agent\'s diagnostics uploads',
    params: idParams(512), response: z.object({ items: z.array(agentUploadItem) }), errors: [404],
  }),

  // ---- the console's reads and bulk actions --------------------------------------------------
  getAgentStatusSummary: route({
    method: 'get', path: '/api/fleet/agent_status', operationId: 'getAgentStatusSummary', tag: 'console', roles: READ_ROLES,
    summary: 'Agents counted by status (Kibana\'s summary)',
    query: consoleQueries.status, response: z.object({ results: agentStatusSummary }),
  }),
  getAgentStatusHistory: route({
    method: 'get', path: '/api/fleet/agent_status/history', operationId: 'getAgentStatusHistory', tag: 'console', roles: READ_ROLES,
    summary: 'Status counts sampled over the last hours',
    query: consoleQueries.history, response: z.object({ items: z.array(statusSample), interval_ms: z.number().int() }),
  }),
  getConsoleMetrics: route({
    method: 'get', path: '/api/fleet/console/metrics', operationId: 'getConsoleMetrics', tag: 'console', roles: READ_ROLES,
    summary: 'The gateways\' checkin load', response: consoleMetrics,
  }),
  listAgentTags: route({
    method: 'get', path: '/api/fleet/agents/tags', operationId: 'listAgentTags', tag: 'agents', roles: READ_ROLES,
    summary: 'The distinct tags of agents (at most 1000)',
    query: consoleQueries.tags, response: z.object({ items: z.array(z.string()) }),
  }),
  bulkReassignAgents: route({
    method: 'post', path: '/api/fleet/agents/bulk_reassign', operationId: 'bulkReassignAgents', tag: 'agents', roles: OPERATOR_ROLES,
    summary: 'Move agents (ids or a kuery) to a policy', body: bulkReassignBody, maxBodyBytes: MIB, response: bulkAnswer, errors: [404],
  }),
  bulkUnenrollAgents: route({
    method: 'post', path: '/api/fleet/agents/bulk_unenroll', operationId: 'bulkUnenrollAgents', tag: 'agents', roles: OPERATOR_ROLES,
    summary: 'Unenroll agents (ids or a kuery); `revoke` deactivates them at once', body: bulkUnenrollBody, maxBodyBytes: MIB, response: bulkAnswer,
  }),
  bulkUpgradeAgents: route({
    method: 'post', path: '/api/fleet/agents/bulk_upgrade', operationId: 'bulkUpgradeAgents', tag: 'agents', roles: OPERATOR_ROLES,
    summary: 'Upgrade agents (ids or a kuery)', body: bulkUpgradeBody, maxBodyBytes: MIB, response: bulkAnswer,
  }),
  bulkUpdateAgentTags: route({
    method: 'post', path: '/api/fleet/agents/bulk_update_agent_tags', operationId: 'bulkUpdateAgentTags', tag: 'agents', roles: OPERATOR_ROLES,
    summary: 'Add and remove tags on agents (ids or a kuery)', body: bulkTagsBody, maxBodyBytes: MIB, response: bulkAnswer,
  }),
  updateAgent: route({
    method: 'put', path: '/api/fleet/agents/{id}', operationId: 'updateAgent', tag: 'agents', roles: OPERATOR_ROLES,
    summary: 'Set an agent\'s tags', params: idParams(), body: agentUpdateBody, maxBodyBytes: MIB, response: item(agentItem), errors: [404],
  }),
  getAgentActionHistory: route({
    method: 'get', path: '/api/fleet/agents/{id}/action_history', operationId: 'getAgentActionHistory', tag: 'agents', roles: READ_ROLES,
    summary: 'The actions addressed to an agent and what became of each',
    params: idParams(), query: consoleQueries.actionHistory, response: z.object({ items: z.array(actionHistoryItem), total: z.number().int() }), errors: [404],
  }),

  // ---- agents -------------------------------------------------------------------------------
  listAgents: route({
    method: 'get', path: '/api/fleet/agents', operationId: 'listAgents', tag: 'agents', roles: READ_ROLES,
    summary: 'List agents (kuery, status, paging, sort; page * perPage at most 10000)',
    query: agentListQuery, response: pageOf(agentItem),
  }),
  getAgent: route({
    method: 'get', path: '/api/fleet/agents/{id}', operationId: 'getAgent', tag: 'agents', roles: READ_ROLES,
    summary: 'Read an agent', params: idParams(), response: item(agentItem), errors: [404],
  }),
  createAgentAction: route({
    method: 'post', path: '/api/fleet/agents/{id}/actions', operationId: 'createAgentAction', tag: 'agents', roles: OPERATOR_ROLES,
    summary: 'Send an action to one agent', params: idParams(), body: agentActionBody, maxBodyBytes: MIB, response: item(agentActionItem), errors: [404],
  }),
  unenrollAgent: route({
    method: 'post', path: '/api/fleet/agents/{id}/unenroll', operationId: 'unenrollAgent', tag: 'agents', roles: OPERATOR_ROLES,
    summary: 'Unenroll one agent (`revoke` deactivates it at once)',
    params: idParams(), body: agentUnenrollBody, bodyOptional: true, maxBodyBytes: MIB, response: emptyAnswer, errors: [404],
  }),
  reassignAgent: route({
    method: 'post', path: '/api/fleet/agents/{id}/reassign', operationId: 'reassignAgent', tag: 'agents', roles: OPERATOR_ROLES,
    summary: 'Move one agent to a policy', params: idParams(), body: agentReassignBody, maxBodyBytes: MIB, response: emptyAnswer, errors: [404],
  }),
  upgradeAgent: route({
    method: 'post', path: '/api/fleet/agents/{id}/upgrade', operationId: 'upgradeAgent', tag: 'agents', roles: OPERATOR_ROLES,
    summary: 'Upgrade one agent', params: idParams(), body: agentUpgradeBody, maxBodyBytes: MIB, response: emptyAnswer, errors: [404],
  }),

  // ---- rollouts -----------------------------------------------------------------------------
  getPolicyRollout: route({
    method: 'get', path: '/api/fleet/rollouts/policies/{policyId}', operationId: 'getPolicyRollout', tag: 'rollouts', roles: READ_ROLES,
    summary: 'Where a policy revision stands across its agents',
    params: z.object({ policyId: segment(128) }), query: rolloutPolicyQuery, response: item(rolloutSnapshot), errors: [404],
  }),
  streamPolicyRollout: route({
    method: 'get', path: '/api/fleet/rollouts/policies/{policyId}/stream', operationId: 'streamPolicyRollout', tag: 'rollouts', roles: READ_ROLES,
    summary: 'The same, as server-sent events until it completes',
    params: z.object({ policyId: segment(128) }), query: rolloutPolicyQuery,
    response: { contentType: 'text/event-stream', description: 'Snapshots as `data:` events' }, errors: [404],
  }),
  getActionRollout: route({
    method: 'get', path: '/api/fleet/rollouts/actions/{actionId}', operationId: 'getActionRollout', tag: 'rollouts', roles: READ_ROLES,
    summary: 'Where an action stands across its agents',
    params: z.object({ actionId: segment(256) }), response: item(rolloutSnapshot), errors: [404],
  }),
  streamActionRollout: route({
    method: 'get', path: '/api/fleet/rollouts/actions/{actionId}/stream', operationId: 'streamActionRollout', tag: 'rollouts', roles: READ_ROLES,
    summary: 'The same, as server-sent events until it completes',
    params: z.object({ actionId: segment(256) }),
    response: { contentType: 'text/event-stream', description: 'Snapshots as `data:` events' }, errors: [404],
  }),

  // ---- management keys and the audit trail --------------------------------------------------
  createManagementKey: route({
    method: 'post', path: '/api/fleet/management_api_keys', operationId: 'createManagementKey', tag: 'management keys', roles: ADMIN_ROLES,
    summary: 'Create a management key (its `api_key` is shown once)',
    body: managementKeyCreateBody, maxBodyBytes: MIB, response: z.object({ item: managementKeyCreated, action: z.literal('created') }),
    links: itemIdLinks('getManagementKey', 'revokeManagementKey'),
  }),
  listManagementKeys: route({
    method: 'get', path: '/api/fleet/management_api_keys', operationId: 'listManagementKeys', tag: 'management keys', roles: OVERSIGHT_ROLES,
    summary: 'List management keys, revoked ones included', query: pageQuery, response: pageOf(managementKeyItem),
  }),
  getManagementKey: route({
    method: 'get', path: '/api/fleet/management_api_keys/{id}', operationId: 'getManagementKey', tag: 'management keys', roles: OVERSIGHT_ROLES,
    summary: 'Read a management key', params: idParams(), response: item(managementKeyItem), errors: [404],
  }),
  revokeManagementKey: route({
    method: 'delete', path: '/api/fleet/management_api_keys/{id}', operationId: 'revokeManagementKey', tag: 'management keys', roles: ADMIN_ROLES,
    summary: 'Revoke a management key', params: idParams(), response: z.object({ item: managementKeyItem, action: z.literal('deleted') }), errors: [404],
  }),
  listAuditLog: route({
    method: 'get', path: '/api/fleet/audit_log', operationId: 'listAuditLog', tag: 'audit', roles: OVERSIGHT_ROLES,
    summary: 'The audit trail of changing calls, newest first', query: pageQuery, response: pageOf(auditRecordItem),
  }),

  // ---- the console's session ----------------------------------------------------------------
  signIn: route({
    method: 'post', path: '/api/fleet/console/session', operationId: 'signIn', tag: 'console', roles: 'public',
    summary: 'Trade a token for a console session cookie',
    body: consoleSignInBody, maxBodyBytes: 4096, response: item(consoleSessionItem), errors: [401],
  }),
  getSession: route({
    method: 'get', path: '/api/fleet/console/session', operationId: 'getSession', tag: 'console', roles: 'public',
    summary: 'The console session of the cookie', response: item(consoleSessionItem), errors: [401],
  }),
  signOut: route({
    method: 'delete', path: '/api/fleet/console/session', operationId: 'signOut', tag: 'console', roles: 'public',
    summary: 'End the console session of the cookie on every replica (with its CSRF token) and clear the cookie',
    response: z.object({ action: z.literal('deleted') }), errors: [403],
  }),

  // ---- this document ------------------------------------------------------------------------
  getOpenApiDocument: route({
    method: 'get', path: '/api/fleet/openapi.json', operationId: 'getOpenApiDocument', tag: 'api', roles: READ_ROLES,
    summary: 'This OpenAPI 3.1 document', response: z.looseObject({ openapi: z.string() }),
  }),
} as const;

export type ManagementRoutes = typeof managementRoutes;
export type ManagementRouteName = keyof ManagementRoutes;

/** Every status a route can answer besides 200, each with an `errorBody`. */
export function errorStatuses(spec: RouteSpec): number[] {
  const out = new Set<number>(spec.errors ?? []);
  if (spec.roles !== 'public') [401, 403].forEach((s) => out.add(s));
  if (spec.params || spec.query || spec.body) out.add(400);
  if (spec.body) [413, 415].forEach((s) => out.add(s));
  // The store may be overloaded or away on any call.
  [429, 503].forEach((s) => out.add(s));
  return [...out].sort((a, b) => a - b);
}

/** The Express path of a route (under its `/api/fleet` mount): `{id}` becomes `:id`. */
export function expressPath(spec: RouteSpec): string {
  return spec.path.slice('/api/fleet'.length).replace(/\{([A-Za-z]+)\}/g, ':$1');
}
