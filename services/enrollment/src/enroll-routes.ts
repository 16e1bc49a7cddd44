import type { EnrollRequest } from '@fleet/agent-protocol';
import {
  AGENT_ID_PATTERN,
  apiVersion,
  checkAgentUserAgent,
  countOutcome,
  errorHandler,
  localMetadataSchema,
  parseApiKeyHeader,
  parseJsonObject,
  parseSemVer,
  readBody,
  RouteLimiter,
  validateAgentBody,
  type OutcomeCounter,
} from '@fleet/service-kit';
import { Router } from 'express';
import { z } from 'zod';
import type { EnrollConfig } from './enrollment-config';
import { authenticateEnrollmentKey, enrollAgent, type EnrollDeps } from './enroll-agent';


const enrollBody = z.object({
  type: z.enum(['PERMANENT', 'EPHEMERAL', 'TEMPORARY']),
  id: z.string().regex(AGENT_ID_PATTERN, 'must be 1-128 characters of [A-Za-z0-9._:@-]').optional(),
  replace_token: z.string().min(1).max(1024).optional(),
  enrollment_id: z.string().min(1).max(256).optional(),
  shared_id: z.string().max(256).optional(),
  metadata: z.object({
    local: localMetadataSchema,
    user_provided: z.unknown().optional(),
    tags: z.array(z.string().min(1).max(256)).max(256).optional(),
  }),
});

/** `POST /api/fleet/agents/enroll`: limits, then request shape, then the key, then the domain. */
export function createEnrollRouter(deps: EnrollDeps, config: EnrollConfig, serverVersion: string, outcomes?: OutcomeCounter): Router {
  const router = Router();
  const limiter = new RouteLimiter(config.limit);
  const version = parseSemVer(serverVersion) ?? { major: 9, minor: 6, patch: 0 };
  const limits = { maxBytes: config.limit.maxBodyBytes, maxDecompressedBytes: config.limit.maxBodyBytes * 4 };

  router.post('/api/fleet/agents/enroll', apiVersion(), limiter.middleware(), async (req, res) => {
    const result = await countOutcome(outcomes, () => 'enrolled', async () => {
      const agentVersion = checkAgentUserAgent(req.headers['user-agent'], version);
      const creds = parseApiKeyHeader(req.headers.authorization);
      const body = validateAgentBody(enrollBody, parseJsonObject(await readBody(req, limits))) as EnrollRequest;
      const enrollmentKey = await authenticateEnrollmentKey(deps, creds);
      return enrollAgent(deps, enrollmentKey, body, agentVersion);
    });
    res.status(200).json(result);
  });
  router.use(errorHandler('agent'));
  return router;
}
