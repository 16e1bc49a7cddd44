import { validateInput, type Logger } from '@fleet/service-kit';
import { Router, type Request, type Response } from 'express';
import { once } from 'node:events';
import { z } from 'zod';
import { parseAgentKuery } from './agent-kuery';
import type { AgentAdminDeps } from './agent-management';
import { agentUploads, bulkRequestDiagnostics, readyFile, requestDiagnostics } from './diagnostics';
import { pathParam, readJsonInput } from './management-input';
import { actorOf, allow, noteAuditTarget, OPERATOR_ROLES, READ_ROLES } from './management-auth';

const MAX_BODY = 64 * 1024;
const metrics = z.array(z.enum(['CPU'])).max(10).optional();
const requestBody = z.object({ additional_metrics: metrics }).strict();
const bulkBody = z
  .object({
    agents: z.union([z.array(z.string().min(1).max(256)).min(1).max(10_000), z.string().min(1).max(2048)]),
    batchSize: z.number().int().min(1).optional(),
    additional_metrics: metrics,
  })
  .strict();

const optionalJson = (req: Request) => readJsonInput(req, MAX_BODY, true);
const param = (req: Request, name: string): string => pathParam(req, name, 512);

/** `filename="..."` without characters that would end or break the header value. */
const dispositionName = (name: string): string => name.replace(/["\\\r\n]/g, '_');

/**
 * Kibana's diagnostics API (request_diagnostics, uploads, files), mounted inside the management
 * router under `/api/fleet` (so behind its authentication and audit trail; each route names its roles). Registered before `/agents/:id` routes so
 * `/agents/files/...` and `/agents/bulk_request_diagnostics` are never taken for agent ids.
 */
export function createDiagnosticsRouter(deps: { agents: AgentAdminDeps; logger: Logger }): Router {
  const api = Router();

  api.post('/agents/bulk_request_diagnostics', allow(...OPERATOR_ROLES), async (req, res) => {
    const body = validateInput(bulkBody, await optionalJson(req));
    const target = typeof body.agents === 'string' ? { filter: parseAgentKuery(body.agents) } : { ids: body.agents };
    if ('ids' in target) noteAuditTarget(res, { agent_ids: target.ids }, 'REQUEST_DIAGNOSTICS');
    const actionId = await bulkRequestDiagnostics(deps.agents, target, body.additional_metrics, actorOf(res).name);
    noteAuditTarget(res, { action_id: actionId }, 'REQUEST_DIAGNOSTICS');
    res.json({ actionId });
  });

  api.get('/agents/files/:fileId/:fileName', allow(...READ_ROLES), async (req, res) => {
    const file = await readyFile(deps.agents, param(req, 'fileId'), param(req, 'fileName'));
    res.status(200);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Disposition', `attachment; filename="${dispositionName(file.doc.file.name)}"`);
    res.setHeader('Content-Length', String(file.doc.file.size));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    await streamFile(deps, file, res);
  });

  api.post('/agents/:id/request_diagnostics', allow(...OPERATOR_ROLES), async (req, res) => {
    const body = validateInput(requestBody, await optionalJson(req));
    noteAuditTarget(res, { agent_ids: [param(req, 'id')] }, 'REQUEST_DIAGNOSTICS');
    const actionId = await requestDiagnostics(deps.agents, param(req, 'id'), body.additional_metrics, actorOf(res).name);
    noteAuditTarget(res, { action_id: actionId });
    res.json({ actionId });
  });

  api.get('/agents/:id/uploads', allow(...READ_ROLES), async (req, res) => {
    res.json({ items: await agentUploads(deps.agents, param(req, 'id')) });
  });

  return api;
}

/**
 * Writes the chunks as they are read, one at a time, waiting for the socket to drain. Should the
 * store fail midway, the connection is cut: the client sees a short body, never a complete-looking one.
 */
async function streamFile(deps: { agents: AgentAdminDeps; logger: Logger }, file: Awaited<ReturnType<typeof readyFile>>, res: Response): Promise<void> {
  let sent = 0;
  try {
    for await (const chunk of deps.agents.store.uploads.readChunks({ id: file.id, src: file.doc.src })) {
      if (res.destroyed) return;
      sent += chunk.data.length;
      if (!res.write(chunk.data)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
    if (sent !== file.doc.file.size) throw new Error(`file ${file.id}: ${sent} of ${file.doc.file.size} bytes stored`);
    res.end();
  } catch (err) {
    deps.logger.error({ err, file_id: file.id, sent }, 'file download cut off');
    res.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}
