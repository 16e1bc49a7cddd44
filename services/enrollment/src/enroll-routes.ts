import type { EnrollRequest } from '@fleet/agent-protocol';
import {
  AGENT_ID_PATTERN,
  apiVersion,
  checkAgentUserAgent,
  countOutcome,
  errorHandler,
  goOptional,
  goOptionalId,
  goString,
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
import { authenticateEnrollmentKey, createEnrollReads, enrollAgent, type EnrollDeps } from './enroll-agent';


/**
 * The enroll body, read as the reference reads it (Go's encoding/json): `null` is absent; an empty
 * `id`, `replace_token` or `enrollment_id` is absent too (a stock agent sends `"id": ""`,
 * `"replace_token": ""` and `"tags": null` when none was given); unknown fields are ignored; empty
 * tags are dropped. Kept stricter on purpose: `metadata.local` must be an object, ids use a safe
 * alphabet, and sizes are bounded.
 */
const enrollBody = z.object({
  type: z.enum(['PERMANENT', 'EPHEMERAL', 'TEMPORARY']),
  id: goOptionalId(z.string().regex(AGENT_ID_PATTERN, 'must be 1-128 characters of [A-Za-z0-9._:@-]')),
  replace_token: goOptionalId(z.string().max(1024)),
  enrollment_id: goOptionalId(z.string().max(256)),
  shared_id: goOptional(z.string().max(256)),
  metadata: z.object({
    local: localMetadataSchema,
    user_provided: z.unknown().optional(),
    tags: goOptional(z.array(goString(256)).max(256)).transform((tags) => tags?.filter((t) => t !== '')),
  }),
});

/** `POST /api/fleet/agents/enroll`: limits, then the key, then the request shape, then the domain. */
export function createEnrollRouter(given: EnrollDeps, config: EnrollConfig, serverVersion: string, outcomes?: OutcomeCounter): Router {
  const deps: EnrollDeps = { reads: createEnrollReads(), ...given };
  const router = Router();
  const limiter = new RouteLimiter(config.limit);
  const version = parseSemVer(serverVersion) ?? { major: 9, minor: 6, patch: 0 };
  const limits = { maxBytes: config.limit.maxBodyBytes, maxDecompressedBytes: config.limit.maxBodyBytes * 4 };

  router.post('/api/fleet/agents/enroll', apiVersion(), limiter.middleware(), async (req, res) => {
    const result = await countOutcome(outcomes, () => 'enrolled', async () => {
      const agentVersion = checkAgentUserAgent(req.headers['user-agent'], version);
      const creds = parseApiKeyHeader(req.headers.authorization);
      // The key first, as the reference does: nobody without one makes the server read a body.
      const enrollmentKey = await authenticateEnrollmentKey(deps, creds);
      const body = validateAgentBody(enrollBody, parseJsonObject(await readBody(req, limits))) as EnrollRequest;
      return enrollAgent(deps, enrollmentKey, body, agentVersion);
    });
    res.status(200).json(result);
  });
  router.use(errorHandler('agent'));
  return router;
}
