import {
  errorHandler,
  InputError,
  validateInput,
  type Logger,
} from '@fleet/service-kit';
import {
  agentActionBody,
  agentPolicyCreateBody,
  agentPolicyDeleteBody,
  agentPolicyUpdateBody,
  agentReassignBody,
  agentUnenrollBody,
  agentUpgradeBody,
  enrollmentKeyCreateBody,
  managementKeyCreateBody,
  pageQuery,
} from '@fleet/management-api';
import { redactActionSecrets, statusContexts, type FleetStore } from '@fleet/store';
import { Router, type Request } from 'express';
import { parseAgentKuery } from './agent-kuery';
import type { ConsoleSessions } from './console-session';
import {
  agentView,
  createAction,
  getAgent,
  listAgents,
  reassignAgent,
  unenrollAgent,
  upgradeAgent,
  type AgentAdminDeps,
} from './agent-management';
import {
  createAgentPolicy,
  deleteAgentPolicy,
  fullAgentPolicy,
  getAgentPolicy,
  updateAgentPolicy,
  type PolicyDeps,
} from './agent-policies';
import {
  actorOf,
  ADMIN_ROLES,
  allow,
  auditTrail,
  authenticateManagement,
  noteAuditTarget,
  OPERATOR_ROLES,
  READ_ROLES,
} from './management-auth';
import { createManagementKey, listManagementKeys, getManagementKey, revokeManagementKey } from './management-keys';
import type { UriAllowList } from './uri-allow-list';
import { createEnrollmentKey, enrollmentKeyView, getEnrollmentKey, revokeEnrollmentKey } from './enrollment-keys';
import { createDiagnosticsRouter } from './diagnostics-routes';
import { agentSortQuery, createConsoleApiRouter } from './console-api-routes';
import type { ConsoleDeps } from './console-reads';
import { pathParam, readJsonInput } from './management-input';
import type { RolloutProgressDeps } from './rollout-progress';
import { createRolloutRouter } from './rollout-routes';
import type { RolloutStreams } from './rollout-streams';

const MAX_BODY = 1024 * 1024;
/** Roles that may read the audit trail and the key list (not operators). */
const OVERSIGHT_ROLES = ['read-only', 'admin'] as const;

const jsonBody = (req: Request, optional = false) => readJsonInput(req, MAX_BODY, optional);
const param = (req: Request, name: string): string => pathParam(req, name);

export interface ManagementDeps {
  store: FleetStore;
  policy: PolicyDeps;
  agents: AgentAdminDeps;
  /** The bootstrap admin token (role admin, actor "bootstrap"). */
  adminToken: string;
  /** The console's sessions (cookie auth next to Bearer), when the console is served. */
  sessions?: ConsoleSessions;
  /** Where UPGRADE source_uri and MIGRATE target_uri may point. */
  uris: { upgradeSource: UriAllowList; migrateTarget: UriAllowList };
  /** The console's shared figures (status history, gateway load). */
  console: ConsoleDeps;
  /** Rollout progress (snapshot and stream), when served. */
  rollouts?: { progress: RolloutProgressDeps; streams: RolloutStreams };
  logger: Logger;
}

/** The URIs an action sends agents to must be in their allow-lists (UPGRADE source_uri, MIGRATE target_uri). */
function checkActionUris(deps: ManagementDeps, type: string, data: unknown): void {
  const fields = data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
  if (type === 'MIGRATE') {
    if (typeof fields.target_uri !== 'string') throw new InputError('action.data.target_uri: a MIGRATE action needs a target_uri');
    deps.uris.migrateTarget.check(fields.target_uri, 'target_uri');
  }
  if (type === 'UPGRADE' && fields.source_uri !== undefined) {
    if (typeof fields.source_uri !== 'string') throw new InputError('action.data.source_uri: must be a string');
    deps.uris.upgradeSource.check(fields.source_uri, 'source_uri');
  }
}

/**
 * The Kibana-compatible management API (`/api/fleet/...`), behind management keys (and the
 * bootstrap admin token). Every route names the roles it allows; every authenticated non-read call
 * is written to the audit trail.
 */
export function createManagementRouter(deps: ManagementDeps): Router {
  const router = Router();
  const api = Router();
  const { store } = deps;

  // ---- agent policies -----------------------------------------------------------------------
  api.post('/agent_policies', allow(...ADMIN_ROLES), async (req, res) => {
    const input = validateInput(agentPolicyCreateBody, await jsonBody(req));
    const item = await createAgentPolicy(deps.policy, input, actorOf(res).name);
    noteAuditTarget(res, { policy_id: item.id });
    res.json({ item });
  });
  api.get('/agent_policies', allow(...READ_ROLES), async (req, res) => {
    const q = validateInput(pageQuery, req.query);
    const result = await store.agentPolicies.list({ page: q.page, perPage: q.perPage });
    const items = await Promise.all(
      result.items.map(async (p) => (q.withAgentCount === 'true' ? { ...p, agents: await store.agents.countByPolicy(p.id) } : p)),
    );
    res.json({ items, total: result.total, page: q.page, perPage: q.perPage });
  });
  api.post('/agent_policies/delete', allow(...ADMIN_ROLES), async (req, res) => {
    const body = validateInput(agentPolicyDeleteBody, await jsonBody(req));
    noteAuditTarget(res, { policy_id: body.agentPolicyId });
    res.json(await deleteAgentPolicy(deps.policy, body.agentPolicyId));
  });
  api.get('/agent_policies/:id', allow(...READ_ROLES), async (req, res) => {
    res.json({ item: await getAgentPolicy(store, param(req, 'id')) });
  });
  api.get('/agent_policies/:id/full', allow(...READ_ROLES), async (req, res) => {
    res.json({ item: await fullAgentPolicy(deps.policy, param(req, 'id')) });
  });
  api.put('/agent_policies/:id', allow(...ADMIN_ROLES), async (req, res) => {
    const input = validateInput(agentPolicyUpdateBody, await jsonBody(req));
    res.json({ item: await updateAgentPolicy(deps.policy, param(req, 'id'), input, actorOf(res).name) });
  });
  api.delete('/agent_policies/:id', allow(...ADMIN_ROLES), async (req, res) => {
    res.json(await deleteAgentPolicy(deps.policy, param(req, 'id')));
  });

  // ---- enrollment keys ----------------------------------------------------------------------
  api.post('/enrollment_api_keys', allow(...ADMIN_ROLES), async (req, res) => {
    const body = validateInput(enrollmentKeyCreateBody, await jsonBody(req));
    noteAuditTarget(res, { policy_id: body.policy_id });
    const item = await createEnrollmentKey(store, {
      policy_id: body.policy_id,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.expiration !== undefined ? { expiration: body.expiration } : {}),
    });
    noteAuditTarget(res, { enrollment_key_id: item.id });
    res.json({ item, action: 'created' });
  });
  api.get('/enrollment_api_keys', allow(...READ_ROLES), async (req, res) => {
    const q = validateInput(pageQuery, req.query);
    const filter = q.kuery ? parseAgentKuery(q.kuery).policyIds?.[0] : undefined;
    const result = await store.enrollmentKeys.list({ page: q.page, perPage: q.perPage, ...(filter ? { policyId: filter } : {}) });
    const items = result.items.map(enrollmentKeyView);
    res.json({ items, list: items, total: result.total, page: q.page, perPage: q.perPage });
  });
  api.get('/enrollment_api_keys/:id', allow(...READ_ROLES), async (req, res) => {
    res.json({ item: await getEnrollmentKey(store, param(req, 'id')) });
  });
  api.delete('/enrollment_api_keys/:id', allow(...ADMIN_ROLES), async (req, res) => {
    await revokeEnrollmentKey(store, param(req, 'id'));
    res.json({ action: 'deleted' });
  });

  // ---- agents -------------------------------------------------------------------------------
  api.use(createDiagnosticsRouter({ agents: deps.agents, logger: deps.logger }));
  api.use(createConsoleApiRouter({ agents: deps.agents, console: deps.console, uris: deps.uris }));
  api.get('/agents', allow(...READ_ROLES), async (req, res) => {
    const q = validateInput(pageQuery, req.query);
    const sort = validateInput(agentSortQuery, { sortField: q.sortField, sortOrder: q.sortOrder });
    if (q.page * q.perPage > 10_000) throw new InputError('page * perPage must be at most 10000');
    const filter = parseAgentKuery(q.kuery);
    const result = await listAgents(deps.agents, filter, {
      page: q.page,
      perPage: q.perPage,
      showInactive: q.showInactive === 'true',
      sort: { field: sort.sortField, order: sort.sortOrder },
    });
    res.json({ items: result.items, total: result.total, page: q.page, perPage: q.perPage });
  });
  api.get('/agents/:id', allow(...READ_ROLES), async (req, res) => {
    res.json({ item: await agentView(await getAgent(store, param(req, 'id')), statusContexts(store, new Date())) });
  });
  api.post('/agents/:id/actions', allow(...OPERATOR_ROLES), async (req, res) => {
    const id = param(req, 'id');
    const { action } = validateInput(agentActionBody, await jsonBody(req));
    noteAuditTarget(res, { agent_ids: [id] }, action.type);
    checkActionUris(deps, action.type, action.data);
    const agent = await getAgent(store, id);
    if (!agent._source.active) throw new InputError(`Agent ${id} is not active`);
    const hit = await createAction(
      deps.agents,
      [id],
      {
        type: action.type,
        ...(action.data !== undefined ? { data: action.data as never } : {}),
        ...(action.start_time ? { start_time: action.start_time } : {}),
        ...(action.expiration ? { expiration: action.expiration } : {}),
        ...(action.rollout_duration_seconds ? { rollout_duration_seconds: action.rollout_duration_seconds } : {}),
      },
      actorOf(res).name,
    );
    const doc = hit._source;
    noteAuditTarget(res, { action_id: doc.action_id });
    // Secrets an action carries (MIGRATE's token, a password) are never shown back.
    res.json({ item: { id: doc.action_id, type: doc.type, data: redactActionSecrets(doc.type, doc.data), agents: doc.agents, created_at: doc['@timestamp'], expiration: doc.expiration, sent_at: doc['@timestamp'] } });
  });
  api.post('/agents/:id/unenroll', allow(...OPERATOR_ROLES), async (req, res) => {
    const body = validateInput(agentUnenrollBody, await jsonBody(req, true));
    noteAuditTarget(res, { agent_ids: [param(req, 'id')] }, body.revoke === true ? undefined : 'UNENROLL');
    await unenrollAgent(deps.agents, param(req, 'id'), body.revoke === true, actorOf(res).name);
    res.json({});
  });
  api.post('/agents/:id/reassign', allow(...OPERATOR_ROLES), async (req, res) => {
    const body = validateInput(agentReassignBody, await jsonBody(req));
    noteAuditTarget(res, { agent_ids: [param(req, 'id')], policy_id: body.policy_id }, 'POLICY_REASSIGN');
    await reassignAgent(deps.agents, param(req, 'id'), body.policy_id, actorOf(res).name);
    res.json({});
  });
  api.post('/agents/:id/upgrade', allow(...OPERATOR_ROLES), async (req, res) => {
    const body = validateInput(agentUpgradeBody, await jsonBody(req));
    noteAuditTarget(res, { agent_ids: [param(req, 'id')] }, 'UPGRADE');
    if (body.source_uri !== undefined) deps.uris.upgradeSource.check(body.source_uri, 'source_uri');
    await upgradeAgent(
      deps.agents,
      param(req, 'id'),
      {
        version: body.version,
        ...(body.force ? { force: true } : {}),
        ...(body.source_uri ? { source_uri: body.source_uri } : {}),
        ...(body.start_time ? { start_time: body.start_time } : {}),
        ...(body.rollout_duration_seconds ? { rollout_duration_seconds: body.rollout_duration_seconds } : {}),
      },
      actorOf(res).name,
    );
    res.json({});
  });

  // ---- rollout progress ---------------------------------------------------------------------
  if (deps.rollouts) api.use(createRolloutRouter(deps.rollouts));

  // ---- management keys and the audit trail --------------------------------------------------
  api.post('/management_api_keys', allow(...ADMIN_ROLES), async (req, res) => {
    const body = validateInput(managementKeyCreateBody, await jsonBody(req));
    const item = await createManagementKey(store, { name: body.name, role: body.role }, actorOf(res).name);
    noteAuditTarget(res, { management_key_id: item.id });
    res.json({ item, action: 'created' });
  });
  api.get('/management_api_keys', allow(...OVERSIGHT_ROLES), async (req, res) => {
    const q = validateInput(pageQuery, req.query);
    res.json({ ...(await listManagementKeys(store, q)), page: q.page, perPage: q.perPage });
  });
  api.get('/management_api_keys/:id', allow(...OVERSIGHT_ROLES), async (req, res) => {
    res.json({ item: await getManagementKey(store, param(req, 'id')) });
  });
  api.delete('/management_api_keys/:id', allow(...ADMIN_ROLES), async (req, res) => {
    res.json({ item: await revokeManagementKey(store, param(req, 'id'), actorOf(res).name), action: 'deleted' });
  });
  api.get('/audit_log', allow(...OVERSIGHT_ROLES), async (req, res) => {
    const q = validateInput(pageQuery, req.query);
    if (q.page * q.perPage > 10_000) throw new InputError('page * perPage must be at most 10000');
    const result = await store.audit.list({ page: q.page, perPage: q.perPage });
    res.json({ items: result.items, total: result.total, page: q.page, perPage: q.perPage });
  });

  const paths = [
    '/api/fleet/agent_policies',
    '/api/fleet/enrollment_api_keys',
    '/api/fleet/agents',
    '/api/fleet/management_api_keys',
    '/api/fleet/audit_log',
    '/api/fleet/agent_status',
    '/api/fleet/console',
    '/api/fleet/rollouts',
  ];
  router.use(paths, authenticateManagement({ store, bootstrapToken: deps.adminToken, ...(deps.sessions ? { sessions: deps.sessions } : {}) }));
  router.use(paths, auditTrail({ store, logger: deps.logger }));
  router.use('/api/fleet', api);
  router.use(paths, errorHandler('kibana'));
  return router;
}
