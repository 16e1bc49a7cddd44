import { InputError, validateInput } from '@fleet/service-kit';
import { AGENT_SORT_FIELDS, statusContexts } from '@fleet/store';
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { agentUpdateBody, bulkReassignBody, bulkTagsBody, bulkUnenrollBody, bulkUpgradeBody } from '@fleet/management-api';
import { parseAgentKuery } from './agent-kuery';
import {
  agentView,
  getAgent,
  reassignAgents,
  setAgentTags,
  unenrollAgents,
  updateAgentTags,
  upgradeAgents,
  type AgentAdminDeps,
  type BulkOutcome,
  type BulkTarget,
} from './agent-management';
import { agentActionHistory, agentStatusSummary, consoleMetrics, policyRevision, policyRevisions, statusHistory, type ConsoleDeps } from './console-reads';
import { actorOf, allow, noteAuditTarget, OPERATOR_ROLES, READ_ROLES } from './management-auth';
import { pathParam, readJsonInput } from './management-input';
import type { UriAllowList } from './uri-allow-list';

const MAX_BODY = 1024 * 1024;
/** Distinct tags `GET /agents/tags` answers at most. */
const MAX_TAGS_LISTED = 1000;

const bodies = {
  reassign: bulkReassignBody,
  unenroll: bulkUnenrollBody,
  upgrade: bulkUpgradeBody,
  tags: bulkTagsBody,
  updateAgent: agentUpdateBody,
};

const queries = {
  status: z.object({ policyId: z.string().min(1).max(256).optional(), kuery: z.string().max(2048).optional() }).strict(),
  history: z.object({ hours: z.coerce.number().int().min(1).max(24).default(24) }).strict(),
  tags: z.object({ kuery: z.string().max(2048).optional(), showInactive: z.enum(['true', 'false']).optional() }).strict(),
  actionHistory: z.object({ perPage: z.coerce.number().int().min(1).max(100).default(20) }).strict(),
  revisions: z.object({ page: z.coerce.number().int().min(1).default(1), perPage: z.coerce.number().int().min(1).max(100).default(20) }).strict(),
};

/**
 * The sort of `GET /agents`: one of the sortable fields, asc or desc (default enrolled_at desc).
 * Kibana's UI names keyword fields with a `.keyword` suffix; it is accepted for the same field.
 */
export const agentSortQuery = z.object({
  sortField: z.preprocess((v) => (typeof v === 'string' ? v.replace(/\.keyword$/, '') : v), z.enum(AGENT_SORT_FIELDS).default('enrolled_at')),
  sortOrder: z.enum(['asc', 'desc']).default('desc'),
});

const jsonBody = (req: Request) => readJsonInput(req, MAX_BODY);
const revisionParam = (req: Request): number => {
  const raw = pathParam(req, 'revision', 16);
  if (!/^\d{1,9}$/.test(raw)) throw new InputError('revision: must be a non-negative integer');
  return Number(raw);
};

export interface ConsoleApiDeps {
  agents: AgentAdminDeps;
  console: ConsoleDeps;
  uris: { upgradeSource: UriAllowList };
}

/** A bulk call's target, noted for the audit trail when it lists ids. */
function bulkTarget(res: Response, agents: string | string[], actionType: string): BulkTarget {
  if (typeof agents === 'string') {
    noteAuditTarget(res, {}, actionType);
    return { filter: parseAgentKuery(agents) };
  }
  noteAuditTarget(res, { agent_ids: agents }, actionType);
  return { ids: agents };
}

function answer(res: Response, target: BulkTarget, outcome: BulkOutcome): void {
  // A kuery names no ids: the trail records how many agents it reached.
  noteAuditTarget(res, { action_id: outcome.actionId, ...('filter' in target ? { agent_count: outcome.count } : {}) });
  res.json({ actionId: outcome.actionId, ...(outcome.skipped.length ? { skipped: outcome.skipped } : {}) });
}

/**
 * What the console needs beyond Kibana's per-agent API: status counts and their history, tags,
 * bulk actions, an agent's action history, policy revisions and the gateways' load. Mounted in the
 * management router (authentication, roles, audit) before the `/agents/:id` routes.
 */
export function createConsoleApiRouter(deps: ConsoleApiDeps): Router {
  const api = Router();
  const { store } = deps.agents;
  const now = () => (deps.agents.now ?? (() => new Date()))();

  api.get('/agent_status', allow(...READ_ROLES), async (req, res) => {
    const q = validateInput(queries.status, req.query);
    const filter = parseAgentKuery(q.kuery);
    if (filter.statuses || filter.tags) throw new InputError('kuery: only policy_id is supported here');
    const policyId = q.policyId ?? filter.policyIds?.[0];
    res.json({ results: await agentStatusSummary(store, policyId, now()) });
  });
  api.get('/agent_status/history', allow(...READ_ROLES), async (req, res) => {
    const q = validateInput(queries.history, req.query);
    res.json(await statusHistory(deps.console, q.hours, now()));
  });
  api.get('/console/metrics', allow(...READ_ROLES), async (_req, res) => {
    res.json(await consoleMetrics(deps.console, now()));
  });

  api.get('/agents/tags', allow(...READ_ROLES), async (req, res) => {
    const q = validateInput(queries.tags, req.query);
    const filter = parseAgentKuery(q.kuery);
    if (filter.statuses) throw new InputError('kuery: status is not supported when listing tags');
    if (filter.matchNone) {
      res.json({ items: [] });
      return;
    }
    const items = await store.agents.distinctTags({ ...filter, showInactive: q.showInactive === 'true', limit: MAX_TAGS_LISTED });
    res.json({ items });
  });

  api.post('/agents/bulk_reassign', allow(...OPERATOR_ROLES), async (req, res) => {
    const body = validateInput(bodies.reassign, await jsonBody(req));
    const target = bulkTarget(res, body.agents, 'POLICY_REASSIGN');
    noteAuditTarget(res, { policy_id: body.policy_id });
    answer(res, target, await reassignAgents(deps.agents, target, body.policy_id, actorOf(res).name));
  });
  api.post('/agents/bulk_unenroll', allow(...OPERATOR_ROLES), async (req, res) => {
    const body = validateInput(bodies.unenroll, await jsonBody(req));
    // As the single unenroll: `revoke` deactivates at once; `force` (hosted agents in Kibana) changes nothing here.
    const revoke = body.revoke === true;
    const target = bulkTarget(res, body.agents, revoke ? 'FORCE_UNENROLL' : 'UNENROLL');
    answer(res, target, await unenrollAgents(deps.agents, target, revoke, actorOf(res).name));
  });
  api.post('/agents/bulk_upgrade', allow(...OPERATOR_ROLES), async (req, res) => {
    const body = validateInput(bodies.upgrade, await jsonBody(req));
    const target = bulkTarget(res, body.agents, 'UPGRADE');
    if (body.source_uri !== undefined) deps.uris.upgradeSource.check(body.source_uri, 'source_uri');
    const input = {
      version: body.version,
      ...(body.force ? { force: true } : {}),
      ...(body.source_uri ? { source_uri: body.source_uri } : {}),
      ...(body.start_time ? { start_time: body.start_time } : {}),
      ...(body.rollout_duration_seconds ? { rollout_duration_seconds: body.rollout_duration_seconds } : {}),
    };
    answer(res, target, await upgradeAgents(deps.agents, target, input, actorOf(res).name));
  });
  api.post('/agents/bulk_update_agent_tags', allow(...OPERATOR_ROLES), async (req, res) => {
    const body = validateInput(bodies.tags, await jsonBody(req));
    const target = bulkTarget(res, body.agents, 'UPDATE_TAGS');
    answer(res, target, await updateAgentTags(deps.agents, target, { add: body.tagsToAdd ?? [], remove: body.tagsToRemove ?? [] }, actorOf(res).name));
  });

  api.put('/agents/:id', allow(...OPERATOR_ROLES), async (req, res) => {
    const id = pathParam(req, 'id');
    const body = validateInput(bodies.updateAgent, await jsonBody(req));
    noteAuditTarget(res, { agent_ids: [id] });
    if (body.user_provided_metadata !== undefined) throw new InputError('user_provided_metadata: not supported (only tags can be updated)');
    const current = body.tags ? await setAgentTags(deps.agents, id, body.tags) : await getAgent(store, id);
    res.json({ item: await agentView(current, statusContexts(store, now())) });
  });
  api.get('/agents/:id/action_history', allow(...READ_ROLES), async (req, res) => {
    const q = validateInput(queries.actionHistory, req.query);
    res.json(await agentActionHistory(store, pathParam(req, 'id'), q.perPage, now()));
  });

  api.get('/agent_policies/:id/revisions', allow(...READ_ROLES), async (req, res) => {
    const q = validateInput(queries.revisions, req.query);
    if (q.page * q.perPage > 10_000) throw new InputError('page * perPage must be at most 10000');
    res.json(await policyRevisions(store, pathParam(req, 'id'), q));
  });
  api.get('/agent_policies/:id/revisions/:revision', allow(...READ_ROLES), async (req, res) => {
    res.json({ item: await policyRevision(store, pathParam(req, 'id'), revisionParam(req)) });
  });

  return api;
}
