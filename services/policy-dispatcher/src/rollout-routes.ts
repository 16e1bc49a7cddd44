import { managementRoutes as routes } from '@fleet/management-api';
import { Router, type Response } from 'express';
import { rolloutSnapshot, type RolloutProgressDeps, type RolloutTarget } from './rollout-progress';
import type { RolloutStreams } from './rollout-streams';
import { serve } from './serve-route';

const policyTarget = (policyId: string, revision: number | undefined): RolloutTarget => ({
  kind: 'policy',
  policyId,
  ...(revision !== undefined ? { revision } : {}),
});

/**
 * Rollout progress (mounted inside the management router under `/api/fleet`, so behind its
 * authentication; read roles): a snapshot as JSON, or `/stream` for server-sent events.
 */
export function createRolloutRouter(deps: { progress: RolloutProgressDeps; streams: RolloutStreams }): Router {
  const api = Router();
  const snapshot = async (res: Response, target: RolloutTarget) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ item: await rolloutSnapshot(deps.progress, target) });
  };
  serve(api, routes.getPolicyRollout, ({ params, query }, _req, res) => snapshot(res, policyTarget(params.policyId, query.revision)));
  serve(api, routes.streamPolicyRollout, ({ params, query }, _req, res) => deps.streams.open(res, policyTarget(params.policyId, query.revision)));
  serve(api, routes.getActionRollout, ({ params }, _req, res) => snapshot(res, { kind: 'action', actionId: params.actionId }));
  serve(api, routes.streamActionRollout, ({ params }, _req, res) => deps.streams.open(res, { kind: 'action', actionId: params.actionId }));
  return api;
}
