import {
  apiVersion,
  BadRequestError,
  errorHandler,
  FileIncompleteError,
  MultipartRangeNotSupportedError,
  parseApiKeyHeader,
  PgpKeyPermissionsError,
  RangeNotSatisfiableError,
  RouteLimiter,
  TlsRequiredError,
  type ApiKeyAuthenticator,
  type Logger,
} from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';
import { Router, type Request, type Response } from 'express';
import { authenticateAgentByKey } from './authenticate-agent';
import { authorizeArtifact, type ArtifactFetcher } from './artifacts';
import { chunkSlice, locateFile, parseRange, planDelivery, readPlannedChunk, type ByteRange, type FilePlan } from './file-delivery';
import type { GatewayLimits } from './gateway-config';
import { readPgpKey } from './pgp-key';
import type { PolicyCache } from './policy-cache';

export interface DeliveryRouteDeps {
  store: FleetStore;
  authenticator: ApiKeyAuthenticator;
  policies: PolicyCache;
  artifacts: ArtifactFetcher;
  /** The PGP key file (resolved: never empty). */
  pgpKeyFile: string;
  logger: Logger;
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const VERSION = /^\d{1,9}\.\d{1,9}\.\d{1,9}$/;
const MAX_ID_LENGTH = 1024;

const firstString = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : undefined;

/** Thin handlers of the artifact, file-delivery and PGP-key routes: limits, shape checks, authentication, then the domain. */
export function createDeliveryRouter(deps: DeliveryRouteDeps, limits: GatewayLimits): Router {
  const router = Router();
  const limiters = {
    artifact: new RouteLimiter(limits.artifact),
    file: new RouteLimiter(limits.fileDelivery),
    pgp: new RouteLimiter(limits.pgpRetrieval),
  };

  router.get('/api/fleet/artifacts/:id/:sha2', apiVersion(), limiters.artifact.middleware(), async (req, res) => {
    const { id, sha2 } = req.params as { id: string; sha2: string };
    if (!SHA256_HEX.test(sha2)) throw new BadRequestError('malformed sha256');
    if (id.length > MAX_ID_LENGTH) throw new BadRequestError('artifact id too long');
    const creds = parseApiKeyHeader(req.headers.authorization);
    const agent = await authenticateAgentByKey(deps, creds);
    try {
      await authorizeArtifact(deps.policies, agent._source, id, sha2);
    } catch (err) {
      deps.logger.warn({ 'fleet.agent.id': agent._id, 'fleet.artifact.id': id }, 'artifact refused: not in the agent policy');
      throw err;
    }
    const bytes = await deps.artifacts.get(id, sha2);
    // As the reference: the raw stored bytes, no Content-Type.
    res.status(200).end(bytes);
  });

  router.get('/api/fleet/file/:id', apiVersion(), limiters.file.middleware(), async (req, res) => {
    const fileId = req.params.id as string;
    if (fileId.length > MAX_ID_LENGTH) throw new BadRequestError('file id too long');
    const creds = parseApiKeyHeader(req.headers.authorization);
    const agent = await authenticateAgentByKey(deps, creds);
    const source = firstString(req.query.source);
    const productOrigin = firstString(req.headers['x-elastic-product-origin']);
    const file = await locateFile(deps.store, { agentId: agent._id, fileId, source, productOrigin });
    res.setHeader('Accept-Ranges', 'bytes');
    let plan: FilePlan;
    try {
      plan = await planDelivery(deps.store, file);
    } catch (err) {
      if (err instanceof FileIncompleteError) deps.logger.error({ 'fleet.file.id': fileId, reason: err.message }, 'stored file is incomplete; not served');
      throw err;
    }
    let range: ByteRange | undefined;
    try {
      range = parseRange(req.headers.range, plan.size);
    } catch (err) {
      if (err instanceof RangeNotSatisfiableError && !(err instanceof MultipartRangeNotSupportedError)) {
        res.setHeader('Content-Range', `bytes */${plan.size}`);
      }
      throw err;
    }
    await sendFile(deps, req, res, plan, range);
  });

  router.get('/api/agents/upgrades/:version/pgp-public-key', apiVersion(), limiters.pgp.middleware(), async (req, res) => {
    if (!VERSION.test(req.params.version as string)) throw new BadRequestError('version must be major.minor.patch');
    // req.secure: a TLS socket, or X-Forwarded-Proto: https from a trusted proxy (FLEET_HTTP_TRUST_PROXY).
    if (!req.secure) throw new TlsRequiredError();
    let key: Buffer;
    try {
      key = await readPgpKey(deps.pgpKeyFile);
    } catch (err) {
      if (err instanceof PgpKeyPermissionsError) deps.logger.error({ file: deps.pgpKeyFile }, 'PGP key file refused: its mode must be 0600 (chmod 600)');
      else deps.logger.warn({ file: deps.pgpKeyFile, err }, 'PGP key file cannot be read');
      throw err;
    }
    res.status(200).type('application/octet-stream').end(key);
  });

  router.use(errorHandler('agent'));
  return router;
}

/**
 * Streams the file (or the range) chunk by chunk: one chunk in memory at a time, waiting for the
 * socket to drain. The first chunk is read before the headers go out, so a store failure is still
 * an error response; a chunk that turns out short or gone later aborts the connection, which the
 * agent sees as a body shorter than Content-Length, never as a complete file.
 */
async function sendFile(deps: DeliveryRouteDeps, req: Request, res: Response, plan: FilePlan, range: ByteRange | undefined): Promise<void> {
  const whole = range ?? { start: 0, end: plan.size - 1 };
  const firstIndex = Math.floor(whole.start / plan.chunkSize);
  const lastIndex = Math.floor(whole.end / plan.chunkSize);
  const first = plan.size > 0 ? await readChunkLogged(deps, plan, firstIndex) : Buffer.alloc(0);

  const meta = plan.file.meta.file;
  res.setHeader('Content-Type', typeof meta.mime_type === 'string' && meta.mime_type ? meta.mime_type : 'application/octet-stream');
  res.setHeader('Content-Length', String(plan.size > 0 ? whole.end - whole.start + 1 : 0));
  if (typeof meta.hash?.sha256 === 'string' && meta.hash.sha256) res.setHeader('X-File-SHA2', meta.hash.sha256);
  if (range) res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${plan.size}`);
  res.status(range ? 206 : 200);
  if (plan.size === 0) {
    res.end();
    return;
  }
  try {
    for (let index = firstIndex; index <= lastIndex; index++) {
      if (res.destroyed) return;
      const bytes = index === firstIndex ? first : await readChunkLogged(deps, plan, index);
      await write(res, chunkSlice(plan, index, bytes, whole));
    }
    res.end();
  } catch (err) {
    deps.logger.error({ err, 'fleet.file.id': plan.file.id, url: req.originalUrl }, 'file delivery aborted after the headers were sent');
    res.destroy();
  }
}

async function readChunkLogged(deps: DeliveryRouteDeps, plan: FilePlan, index: number): Promise<Buffer> {
  try {
    return await readPlannedChunk(deps.store, plan, index);
  } catch (err) {
    if (err instanceof FileIncompleteError) deps.logger.error({ 'fleet.file.id': plan.file.id, reason: err.message }, 'stored file is incomplete; not served');
    throw err;
  }
}

/** Writes, then waits for the socket to drain (or close) before the next chunk is read. */
function write(res: Response, bytes: Buffer): Promise<void> {
  if (res.write(bytes)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
