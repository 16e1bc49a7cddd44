import {
  errorHandler,
  InputError,
  validateInput,
  type Logger,
} from '@fleet/service-kit';
import { DELIVERABLE_ACTION_TYPES } from '@fleet/agent-protocol';
import { redactActionSecrets, statusContexts, type FleetStore } from '@fleet/store';
import { Router, type Request } from 'express';
import { z } from 'zod';
import { parseAgentKuery } from './agent-kuery';
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
  type AgentPolicyInput,
  type PolicyDeps,
} from './agent-policies';
import { requireAdminToken } from './admin-token';
import { createEnrollmentKey, enrollmentKeyView, getEnrollmentKey, revokeEnrollmentKey } from './enrollment-keys';
import { createDiagnosticsRouter } from './diagnostics-routes';
import { pathParam, readJsonInput } from './management-input';

const MAX_BODY = 1024 * 1024;
const ADMIN_USER = 'fleet-admin';

const jsonObject = z.record(z.string(), z.unknown());
const iso = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO 8601 date');
const policyId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 characters of [A-Za-z0-9._:-]');
/** Fields Kibana's UI sends that this server accepts and does not use. */
const kibanaOnly = {
  agent_features: z.unknown().optional(),
  advanced_settings: z.unknown().optional(),
  global_data_tags: z.unknown().optional(),
  keep_monitoring_alive: z.unknown().optional(),
  supports_agentless: z.unknown().optional(),
  data_output_id: z.unknown().optional(),
  monitoring_output_id: z.unknown().optional(),
  download_source_id: z.unknown().optional(),
  fleet_server_host_id: z.unknown().optional(),
  is_protected: z.unknown().optional(),
  space_ids: z.unknown().optional(),
  overrides: z.unknown().optional(),
};
const policyFields = {
  name: z.string().trim().min(1).max(256),
  namespace: z.string().regex(/^[a-z0-9_]{1,100}$/, 'must be lowercase letters, digits and _ (at most 100)'),
  description: z.string().max(4096),
  monitoring_enabled: z.array(z.enum(['logs', 'metrics'])),
  inactivity_timeout: z.number().int().min(0),
  unenroll_timeout: z.number().int().min(0),
  is_default: z.boolean(),
  is_default_fleet_server: z.boolean(),
  outputs: z.record(z.string().min(1), jsonObject.refine((o) => typeof o.type === 'string', 'each output needs a type')),
  output_permissions: z.record(z.string(), jsonObject),
  inputs: z.array(jsonObject).max(10_000),
  agent: jsonObject,
  fleet: jsonObject,
};
const createPolicyBody = z
  .object({ ...policyFields, id: policyId.optional(), ...kibanaOnly })
  .partial({ namespace: true, description: true, monitoring_enabled: true, inactivity_timeout: true, unenroll_timeout: true, is_default: true, is_default_fleet_server: true, outputs: true, output_permissions: true, inputs: true, agent: true, fleet: true })
  .strict();
const updatePolicyBody = z.object({ ...policyFields, ...kibanaOnly }).partial().strict();
const enrollmentKeyBody = z.object({ policy_id: z.string().min(1), name: z.string().max(256).optional(), expiration: iso.optional() }).strict();
const actionBody = z
  .object({
    action: z
      .object({
        type: z.enum(DELIVERABLE_ACTION_TYPES),
        data: z.unknown().optional(),
        ack_data: z.unknown().optional(),
        sent_at: z.string().optional(),
        start_time: iso.optional(),
        expiration: iso.optional(),
        rollout_duration_seconds: z.number().int().min(0).optional(),
      })
      .strict(),
  })
  .strict();
const unenrollBody = z.object({ revoke: z.boolean().optional(), force: z.boolean().optional() }).strict();
const reassignBody = z.object({ policy_id: z.string().min(1) }).strict();
const upgradeBody = z
  .object({
    version: z.string().min(1).max(64),
    source_uri: z.string().url().optional(),
    force: z.boolean().optional(),
    skipRateLimitCheck: z.boolean().optional(),
    start_time: iso.optional(),
    rollout_duration_seconds: z.number().int().min(0).optional(),
  })
  .strict();
const pageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  perPage: z.coerce.number().int().min(1).max(10_000).default(20),
  kuery: z.string().optional(),
  showInactive: z.enum(['true', 'false']).optional(),
  withAgentCount: z.string().optional(),
  full: z.string().optional(),
  sortField: z.string().optional(),
  sortOrder: z.string().optional(),
  showUpgradeable: z.string().optional(),
});

const jsonBody = (req: Request, optional = false) => readJsonInput(req, MAX_BODY, optional);
const param = (req: Request, name: string): string => pathParam(req, name);

export interface ManagementDeps {
  store: FleetStore;
  policy: PolicyDeps;
  agents: AgentAdminDeps;
  adminToken: string;
  logger: Logger;
}

/** The Kibana-compatible management API (`/api/fleet/...`), behind the admin bearer token. */
export function createManagementRouter(deps: ManagementDeps): Router {
  const router = Router();
  const api = Router();
  const { store } = deps;

  // ---- agent policies -----------------------------------------------------------------------
  api.post('/agent_policies', async (req, res) => {
    const input = validateInput(createPolicyBody, await jsonBody(req)) as AgentPolicyInput;
    res.json({ item: await createAgentPolicy(deps.policy, input, ADMIN_USER) });
  });
  api.get('/agent_policies', async (req, res) => {
    const q = validateInput(pageQuery, req.query);
    const result = await store.agentPolicies.list({ page: q.page, perPage: q.perPage });
    const items = await Promise.all(
      result.items.map(async (p) => (q.withAgentCount === 'true' ? { ...p, agents: await store.agents.countByPolicy(p.id) } : p)),
    );
    res.json({ items, total: result.total, page: q.page, perPage: q.perPage });
  });
  api.post('/agent_policies/delete', async (req, res) => {
    const body = validateInput(z.object({ agentPolicyId: z.string().min(1) }).strict(), await jsonBody(req));
    res.json(await deleteAgentPolicy(deps.policy, body.agentPolicyId));
  });
  api.get('/agent_policies/:id', async (req, res) => {
    res.json({ item: await getAgentPolicy(store, param(req, 'id')) });
  });
  api.get('/agent_policies/:id/full', async (req, res) => {
    res.json({ item: await fullAgentPolicy(deps.policy, param(req, 'id')) });
  });
  api.put('/agent_policies/:id', async (req, res) => {
    const input = validateInput(updatePolicyBody, await jsonBody(req)) as AgentPolicyInput;
    res.json({ item: await updateAgentPolicy(deps.policy, param(req, 'id'), input, ADMIN_USER) });
  });
  api.delete('/agent_policies/:id', async (req, res) => {
    res.json(await deleteAgentPolicy(deps.policy, param(req, 'id')));
  });

  // ---- enrollment keys ----------------------------------------------------------------------
  api.post('/enrollment_api_keys', async (req, res) => {
    const body = validateInput(enrollmentKeyBody, await jsonBody(req));
    const item = await createEnrollmentKey(store, {
      policy_id: body.policy_id,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.expiration !== undefined ? { expiration: body.expiration } : {}),
    });
    res.json({ item, action: 'created' });
  });
  api.get('/enrollment_api_keys', async (req, res) => {
    const q = validateInput(pageQuery, req.query);
    const filter = q.kuery ? parseAgentKuery(q.kuery).policyIds?.[0] : undefined;
    const result = await store.enrollmentKeys.list({ page: q.page, perPage: q.perPage, ...(filter ? { policyId: filter } : {}) });
    const items = result.items.map(enrollmentKeyView);
    res.json({ items, list: items, total: result.total, page: q.page, perPage: q.perPage });
  });
  api.get('/enrollment_api_keys/:id', async (req, res) => {
    res.json({ item: await getEnrollmentKey(store, param(req, 'id')) });
  });
  api.delete('/enrollment_api_keys/:id', async (req, res) => {
    await revokeEnrollmentKey(store, param(req, 'id'));
    res.json({ action: 'deleted' });
  });

  // ---- agents -------------------------------------------------------------------------------
  api.use(createDiagnosticsRouter({ agents: deps.agents, user: ADMIN_USER, logger: deps.logger }));
  api.get('/agents', async (req, res) => {
    const q = validateInput(pageQuery, req.query);
    const filter = parseAgentKuery(q.kuery);
    const result = await listAgents(deps.agents, filter, { page: q.page, perPage: q.perPage, showInactive: q.showInactive === 'true' });
    res.json({ items: result.items, total: result.total, page: q.page, perPage: q.perPage });
  });
  api.get('/agents/:id', async (req, res) => {
    res.json({ item: await agentView(await getAgent(store, param(req, 'id')), statusContexts(store, new Date())) });
  });
  api.post('/agents/:id/actions', async (req, res) => {
    const id = param(req, 'id');
    const { action } = validateInput(actionBody, await jsonBody(req));
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
      ADMIN_USER,
    );
    const doc = hit._source;
    // Secrets an action carries (MIGRATE's token, a password) are never shown back.
    res.json({ item: { id: doc.action_id, type: doc.type, data: redactActionSecrets(doc.type, doc.data), agents: doc.agents, created_at: doc['@timestamp'], expiration: doc.expiration, sent_at: doc['@timestamp'] } });
  });
  api.post('/agents/:id/unenroll', async (req, res) => {
    const body = validateInput(unenrollBody, await jsonBody(req, true));
    await unenrollAgent(deps.agents, param(req, 'id'), body.revoke === true, ADMIN_USER);
    res.json({});
  });
  api.post('/agents/:id/reassign', async (req, res) => {
    const body = validateInput(reassignBody, await jsonBody(req));
    await reassignAgent(deps.agents, param(req, 'id'), body.policy_id, ADMIN_USER);
    res.json({});
  });
  api.post('/agents/:id/upgrade', async (req, res) => {
    const body = validateInput(upgradeBody, await jsonBody(req));
    await upgradeAgent(
      deps.agents,
      param(req, 'id'),
      {
        version: body.version,
        ...(body.source_uri ? { source_uri: body.source_uri } : {}),
        ...(body.start_time ? { start_time: body.start_time } : {}),
        ...(body.rollout_duration_seconds ? { rollout_duration_seconds: body.rollout_duration_seconds } : {}),
      },
      ADMIN_USER,
    );
    res.json({});
  });

  const paths = ['/api/fleet/agent_policies', '/api/fleet/enrollment_api_keys', '/api/fleet/agents'];
  router.use(paths, requireAdminToken(deps.adminToken));
  router.use('/api/fleet', api);
  router.use(paths, errorHandler('kibana'));
  return router;
}
