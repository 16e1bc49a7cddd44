import { InputError } from '@fleet/service-kit';
import { managementRoutes as routes } from '@fleet/management-api';
import { statusContexts } from '@fleet/store';
import { Router, type Response } from 'express';
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
import { actorOf, noteAuditTarget } from './management-auth';
import { serve } from './serve-route';
import type { UriAllowList } from './uri-allow-list';

/** Distinct tags `GET /agents/tags` answers at most. */
const MAX_TAGS_LISTED = 1000;

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

  serve(api, routes.getAgentStatusSummary, async ({ query: q }, _req, res) => {
    const filter = parseAgentKuery(q.kuery);
    if (filter.statuses || filter.tags) throw new InputError('kuery: only policy_id is supported here');
    const policyId = q.policyId ?? filter.policyIds?.[0];
    res.json({ results: await agentStatusSummary(store, policyId, now()) });
  });
  serve(api, routes.getAgentStatusHistory, async ({ query: q }, _req, res) => {
    res.json(await statusHistory(deps.console, q.hours, now()));
  });
  serve(api, routes.getConsoleMetrics, async (_input, _req, res) => {
    res.json(await consoleMetrics(deps.console, now()));
  });

  serve(api, routes.listAgentTags, async ({ query: q }, _req, res) => {
    const filter = parseAgentKuery(q.kuery);
    if (filter.statuses) throw new InputError('kuery: status is not supported when listing tags');
    if (filter.matchNone) {
      res.json({ items: [] });
      return;
    }
    const items = await store.agents.distinctTags({ ...filter, showInactive: q.showInactive === 'true', limit: MAX_TAGS_LISTED });
    res.json({ items });
  });

  serve(api, routes.bulkReassignAgents, async ({ body }, _req, res) => {
    const target = bulkTarget(res, body.agents, 'POLICY_REASSIGN');
    noteAuditTarget(res, { policy_id: body.policy_id });
    answer(res, target, await reassignAgents(deps.agents, target, body.policy_id, actorOf(res).name));
  });
  serve(api, routes.bulkUnenrollAgents, async ({ body }, _req, res) => {
    // As the single unenroll: `revoke` deactivates at once; `force` (hosted agents in Kibana) changes nothing here.
    const revoke = body.revoke === true;
    const target = bulkTarget(res, body.agents, revoke ? 'FORCE_UNENROLL' : 'UNENROLL');
    answer(res, target, await unenrollAgents(deps.agents, target, revoke, actorOf(res).name));
  });
  serve(api, routes.bulkUpgradeAgents, async ({ body }, _req, res) => {
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
  serve(api, routes.bulkUpdateAgentTags, async ({ body }, _req, res) => {
    const target = bulkTarget(res, body.agents, 'UPDATE_TAGS');
    answer(res, target, await updateAgentTags(deps.agents, target, { add: body.tagsToAdd ?? [], remove: body.tagsToRemove ?? [] }, actorOf(res).name));
  });

  serve(api, routes.updateAgent, async ({ params, body }, _req, res) => {
    const { id } = params;
    noteAuditTarget(res, { agent_ids: [id] });
    if (body.user_provided_metadata !== undefined) throw new InputError('user_provided_metadata: not supported (only tags can be updated)');
    const current = body.tags ? await setAgentTags(deps.agents, id, body.tags) : await getAgent(store, id);
    res.json({ item: await agentView(current, statusContexts(store, now())) });
  });
  serve(api, routes.getAgentActionHistory, async ({ params, query: q }, _req, res) => {
    res.json(await agentActionHistory(store, params.id, q.perPage, now()));
  });

  serve(api, routes.listAgentPolicyRevisions, async ({ params, query: q }, _req, res) => {
    res.json(await policyRevisions(store, params.id, q));
  });
  serve(api, routes.getAgentPolicyRevision, async ({ params }, _req, res) => {
    res.json({ item: await policyRevision(store, params.id, params.revision) });
  });

  return api;
}
