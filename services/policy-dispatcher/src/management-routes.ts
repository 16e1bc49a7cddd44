import { errorHandler, InputError, type Logger } from '@fleet/service-kit';
import { managementRoutes as routes, openApiDocument } from '@fleet/management-api';
import { redactActionSecrets, statusContexts, type AgentPolicyRecord, type FleetStore } from '@fleet/store';
import { Router, type Response } from 'express';
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
  policyAnswer,
  revisionTag,
  updateAgentPolicy,
  type PolicyDeps,
} from './agent-policies';
import { actorOf, auditTrail, authenticateManagement, noteAuditTarget } from './management-auth';
import { createManagementKey, listManagementKeys, getManagementKey, revokeManagementKey } from './management-keys';
import type { UriAllowList } from './uri-allow-list';
import { createEnrollmentKey, enrollmentKeyView, getEnrollmentKey, revokeEnrollmentKey } from './enrollment-keys';
import { createDiagnosticsRouter } from './diagnostics-routes';
import { createConsoleApiRouter } from './console-api-routes';
import type { ConsoleDeps } from './console-reads';
import { ifMatchRevision } from './management-input';
import type { RolloutProgressDeps } from './rollout-progress';
import { createRolloutRouter } from './rollout-routes';
import type { RolloutStreams } from './rollout-streams';
import { serve } from './serve-route';

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
  /** The server's version, in the OpenAPI document's `info`. */
  version: string;
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

/** A forced delete's unenrollments go to the audit record (how many agents, FORCE_UNENROLL); the answer is Kibana's. */
function auditedDeletion(res: Response, done: Awaited<ReturnType<typeof deleteAgentPolicy>>): { id: string; name: string } {
  if (done.unenrolled > 0) noteAuditTarget(res, { agent_count: done.unenrolled }, 'FORCE_UNENROLL');
  return done.deleted;
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
  let document: string | undefined;
  // A forced delete unenrolls the policy's agents as the caller.
  const policyDeletion = (res: Response) => ({ ...deps.policy, agents: deps.agents, user: actorOf(res).name });

  // ---- agent policies -----------------------------------------------------------------------
  /** A saved policy's answer; its warnings are logged too, where the operator's logs keep them. */
  const answerSaved = (item: AgentPolicyRecord) => {
    const answer = policyAnswer(deps.policy, item);
    for (const w of answer.warnings ?? []) {
      deps.logger.warn({ 'fleet.policy.id': item.id, revision: item.revision, output: w.output, code: w.code }, w.message);
    }
    return answer;
  };
  serve(api, routes.createAgentPolicy, async ({ body }, _req, res) => {
    const item = await createAgentPolicy(deps.policy, body, actorOf(res).name);
    noteAuditTarget(res, { policy_id: item.id });
    res.json(answerSaved(item));
  });
  serve(api, routes.listAgentPolicies, async ({ query: q }, _req, res) => {
    const result = await store.agentPolicies.list({ page: q.page, perPage: q.perPage });
    const items = await Promise.all(
      result.items.map(async (p) => (q.withAgentCount === 'true' ? { ...p, agents: await store.agents.countByPolicy(p.id) } : p)),
    );
    res.json({ items, total: result.total, page: q.page, perPage: q.perPage });
  });
  serve(api, routes.bulkDeleteAgentPolicy, async ({ body }, req, res) => {
    noteAuditTarget(res, { policy_id: body.agentPolicyId });
    res.json(auditedDeletion(res, await deleteAgentPolicy(policyDeletion(res), body.agentPolicyId, { ifMatch: ifMatchRevision(req), force: body.force === true })));
  });
  serve(api, routes.getAgentPolicy, async ({ params }, _req, res) => {
    const item = await getAgentPolicy(store, params.id);
    res.setHeader('ETag', revisionTag(item.revision));
    res.json(policyAnswer(deps.policy, item));
  });
  serve(api, routes.getFullAgentPolicy, async ({ params }, _req, res) => {
    res.json({ item: await fullAgentPolicy(deps.policy, params.id) });
  });
  serve(api, routes.updateAgentPolicy, async ({ params, body }, req, res) => {
    const item = await updateAgentPolicy(deps.policy, params.id, body, actorOf(res).name, { ifMatch: ifMatchRevision(req) });
    res.setHeader('ETag', revisionTag(item.revision));
    res.json(answerSaved(item));
  });
  serve(api, routes.deleteAgentPolicy, async ({ params, query }, req, res) => {
    noteAuditTarget(res, { policy_id: params.id });
    res.json(auditedDeletion(res, await deleteAgentPolicy(policyDeletion(res), params.id, { ifMatch: ifMatchRevision(req), force: query.force === 'true' })));
  });

  // ---- enrollment keys ----------------------------------------------------------------------
  serve(api, routes.createEnrollmentKey, async ({ body }, _req, res) => {
    noteAuditTarget(res, { policy_id: body.policy_id });
    const item = await createEnrollmentKey(store, {
      policy_id: body.policy_id,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.expiration !== undefined ? { expiration: body.expiration } : {}),
    });
    noteAuditTarget(res, { enrollment_key_id: item.id });
    res.json({ item, action: 'created' });
  });
  serve(api, routes.listEnrollmentKeys, async ({ query: q }, _req, res) => {
    const filter = q.kuery ? parseAgentKuery(q.kuery).policyIds?.[0] : undefined;
    const result = await store.enrollmentKeys.list({ page: q.page, perPage: q.perPage, ...(filter ? { policyId: filter } : {}) });
    const items = result.items.map(enrollmentKeyView);
    res.json({ items, list: items, total: result.total, page: q.page, perPage: q.perPage });
  });
  serve(api, routes.getEnrollmentKey, async ({ params }, _req, res) => {
    res.json({ item: await getEnrollmentKey(store, params.id) });
  });
  serve(api, routes.revokeEnrollmentKey, async ({ params }, _req, res) => {
    await revokeEnrollmentKey(store, params.id);
    res.json({ action: 'deleted' });
  });

  // ---- agents -------------------------------------------------------------------------------
  api.use(createDiagnosticsRouter({ agents: deps.agents, logger: deps.logger }));
  api.use(createConsoleApiRouter({ agents: deps.agents, console: deps.console, uris: deps.uris }));
  serve(api, routes.listAgents, async ({ query: q }, _req, res) => {
    const filter = parseAgentKuery(q.kuery);
    const result = await listAgents(deps.agents, filter, {
      page: q.page,
      perPage: q.perPage,
      showInactive: q.showInactive === 'true',
      sort: { field: q.sortField, order: q.sortOrder },
    });
    res.json({ items: result.items, total: result.total, page: q.page, perPage: q.perPage });
  });
  serve(api, routes.getAgent, async ({ params }, _req, res) => {
    res.json({ item: await agentView(await getAgent(store, params.id), statusContexts(store, new Date())) });
  });
  serve(api, routes.createAgentAction, async ({ params, body }, _req, res) => {
    const { id } = params;
    const { action } = body;
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
  serve(api, routes.unenrollAgent, async ({ params, body }, _req, res) => {
    noteAuditTarget(res, { agent_ids: [params.id] }, body.revoke === true ? undefined : 'UNENROLL');
    await unenrollAgent(deps.agents, params.id, body.revoke === true, actorOf(res).name);
    res.json({});
  });
  serve(api, routes.reassignAgent, async ({ params, body }, _req, res) => {
    noteAuditTarget(res, { agent_ids: [params.id], policy_id: body.policy_id }, 'POLICY_REASSIGN');
    await reassignAgent(deps.agents, params.id, body.policy_id, actorOf(res).name);
    res.json({});
  });
  serve(api, routes.upgradeAgent, async ({ params, body }, _req, res) => {
    noteAuditTarget(res, { agent_ids: [params.id] }, 'UPGRADE');
    if (body.source_uri !== undefined) deps.uris.upgradeSource.check(body.source_uri, 'source_uri');
    await upgradeAgent(
      deps.agents,
      params.id,
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
  serve(api, routes.createManagementKey, async ({ body }, _req, res) => {
    const item = await createManagementKey(store, { name: body.name, role: body.role }, actorOf(res).name);
    noteAuditTarget(res, { management_key_id: item.id });
    res.json({ item, action: 'created' });
  });
  serve(api, routes.listManagementKeys, async ({ query: q }, _req, res) => {
    res.json({ ...(await listManagementKeys(store, q)), page: q.page, perPage: q.perPage });
  });
  serve(api, routes.getManagementKey, async ({ params }, _req, res) => {
    res.json({ item: await getManagementKey(store, params.id) });
  });
  serve(api, routes.revokeManagementKey, async ({ params }, _req, res) => {
    res.json({ item: await revokeManagementKey(store, params.id, actorOf(res).name), action: 'deleted' });
  });
  serve(api, routes.listAuditLog, async ({ query: q }, _req, res) => {
    const result = await store.audit.list({ page: q.page, perPage: q.perPage });
    res.json({ items: result.items, total: result.total, page: q.page, perPage: q.perPage });
  });

  // ---- this API's OpenAPI document ----------------------------------------------------------
  serve(api, routes.getOpenApiDocument, (_input, _req, res) => {
    document ??= JSON.stringify(openApiDocument({ version: deps.version }));
    res.type('application/json').send(document);
  });

  // Authentication and the audit trail cover every prefix a route of the table lives under.
  const paths = [...new Set(Object.values(routes).filter((r) => r.roles !== 'public').map((r) => r.path.split('/').slice(0, 4).join('/')))];
  router.use(paths, authenticateManagement({ store, bootstrapToken: deps.adminToken, ...(deps.sessions ? { sessions: deps.sessions } : {}) }));
  router.use(paths, auditTrail({ store, logger: deps.logger }));
  router.use('/api/fleet', api);
  router.use(paths, errorHandler('kibana'));
  return router;
}
