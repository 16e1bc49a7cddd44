import { validateInput } from '@fleet/service-kit';
import { Router, type Request } from 'express';
import { z } from 'zod';
import { allow, READ_ROLES } from './management-auth';
import { pathParam } from './management-input';
import { rolloutSnapshot, type RolloutProgressDeps, type RolloutTarget } from './rollout-progress';
import type { RolloutStreams } from './rollout-streams';

const policyQuery = z.object({ revision: z.coerce.number().int().min(0).max(2 ** 31).optional() });

const policyTarget = (req: Request): RolloutTarget => {
  const { revision } = validateInput(policyQuery, req.query);
  return { kind: 'policy', policyId: pathParam(req, 'policyId', 128), ...(revision !== undefined ? { revision } : {}) };
};
const actionTarget = (req: Request): RolloutTarget => ({ kind: 'action', actionId: pathParam(req, 'actionId', 256) });

/**
 * Rollout progress (mounted inside the management router under `/api/fleet`, so behind its
 * authentication; read roles): a snapshot as JSON, or `/stream` for server-sent events.
 */
export function createRolloutRouter(deps: { progress: RolloutProgressDeps; streams: RolloutStreams }): Router {
  const api = Router();
  for (const [path, target] of [
    ['/rollouts/policies/:policyId', policyTarget],
    ['/rollouts/actions/:actionId', actionTarget],
  ] as const) {
    api.get(path, allow(...READ_ROLES), async (req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.json({ item: await rolloutSnapshot(deps.progress, target(req)) });
    });
    api.get(`${path}/stream`, allow(...READ_ROLES), async (req, res) => {
      await deps.streams.open(res, target(req));
    });
  }
  return api;
}
