import {
  apiVersion,
  BadRequestError,
  errorHandler,
  parseApiKeyHeader,
  parseJsonObject,
  readBody,
  RouteLimiter,
  TransitHashRequiredError,
  type ApiKeyAuthenticator,
} from '@fleet/service-kit';
import { UPLOAD_CHUNK_SIZE, type FleetStore } from '@fleet/store';
import { Router, type Request } from 'express';
import { authenticateAgentByKey } from './authenticate-agent';
import type { GatewayConfig } from './gateway-config';
import { beginUpload, finishUpload, prepareChunk, storeChunk, type UploadDeps } from './uploads';

export interface UploadRouteDeps {
  store: FleetStore;
  authenticator: ApiKeyAuthenticator;
  uploads: UploadDeps;
}

const UPLOAD_ID = /^[A-Za-z0-9-]{1,64}$/;

function uploadIdParam(req: Request): string {
  const id = req.params.id;
  if (typeof id !== 'string' || !UPLOAD_ID.test(id)) throw new BadRequestError('invalid upload id in path');
  return id;
}

/**
 * The upload protocol (`/api/fleet/uploads...`): limit, authenticate the agent's key, check what
 * can be checked without the body, then read the body under its hard bound.
 */
export function createUploadRouter(deps: UploadRouteDeps, config: GatewayConfig): Router {
  const router = Router();
  const limits = config.limits;
  const limiters = {
    start: new RouteLimiter(limits.uploadStart),
    chunk: new RouteLimiter(limits.uploadChunk),
    end: new RouteLimiter(limits.uploadEnd),
  };
  // The protocol's chunk size is a hard bound, whatever the configuration says.
  const chunkBytes = Math.min(limits.uploadChunk.maxBodyBytes || UPLOAD_CHUNK_SIZE, UPLOAD_CHUNK_SIZE);

  router.post('/api/fleet/uploads', apiVersion(), limiters.start.middleware(), async (req, res) => {
    const agent = await authenticateAgentByKey(deps, parseApiKeyHeader(req.headers.authorization));
    const max = limits.uploadStart.maxBodyBytes;
    const body = parseJsonObject(await readBody(req, { maxBytes: max, maxDecompressedBytes: max * 4 }));
    res.json(await beginUpload(deps.uploads, agent, body));
  });

  router.put('/api/fleet/uploads/:id/:chunkNum', apiVersion(), limiters.chunk.middleware(), async (req, res) => {
    const agent = await authenticateAgentByKey(deps, parseApiKeyHeader(req.headers.authorization));
    const uploadId = uploadIdParam(req);
    const raw = String(req.params.chunkNum);
    if (!/^\d{1,9}$/.test(raw)) throw new BadRequestError('invalid chunk number in path');
    const pos = Number(raw);
    const header = req.headers['x-chunk-sha2'];
    const sha2 = typeof header === 'string' ? header.trim() : undefined;
    const upload = await prepareChunk(deps.uploads, agent, uploadId, pos, sha2);
    const data = await readBody(req, { maxBytes: chunkBytes, maxDecompressedBytes: chunkBytes });
    await storeChunk(deps.uploads, upload, pos, sha2 ?? '', data);
    res.status(200).end();
  });

  router.post('/api/fleet/uploads/:id', apiVersion(), limiters.end.middleware(), async (req, res) => {
    const agent = await authenticateAgentByKey(deps, parseApiKeyHeader(req.headers.authorization));
    const uploadId = uploadIdParam(req);
    const max = limits.uploadEnd.maxBodyBytes;
    const body = parseJsonObject(await readBody(req, { maxBytes: max, maxDecompressedBytes: max * 4 }));
    const transit = body.transithash;
    const hash = transit && typeof transit === 'object' ? (transit as Record<string, unknown>).sha256 : undefined;
    if (typeof hash !== 'string' || hash.trim() === '') throw new TransitHashRequiredError();
    await finishUpload(deps.uploads, agent, uploadId, hash);
    res.json({ status: 'ok' });
  });

  router.use('/api/fleet/uploads', errorHandler('agent'));
  return router;
}
