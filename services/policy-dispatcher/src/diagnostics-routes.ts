import { type Logger } from '@fleet/service-kit';
import { managementRoutes as routes } from '@fleet/management-api';
import { Router, type Response } from 'express';
import { once } from 'node:events';
import { parseAgentKuery } from './agent-kuery';
import type { AgentAdminDeps } from './agent-management';
import { agentUploads, bulkRequestDiagnostics, readyFile, requestDiagnostics } from './diagnostics';
import { actorOf, noteAuditTarget } from './management-auth';
import { serve } from './serve-route';

/** `filename="..."` without characters that would end or break the header value. */
const dispositionName = (name: string): string => name.replace(/["\\\r\n]/g, '_');

/**
 * Kibana's diagnostics API (request_diagnostics, uploads, files), mounted inside the management
 * router under `/api/fleet` (so behind its authentication and audit trail; each route names its roles). Registered before `/agents/:id` routes so
 * `/agents/files/...` and `/agents/bulk_request_diagnostics` are never taken for agent ids.
 */
export function createDiagnosticsRouter(deps: { agents: AgentAdminDeps; logger: Logger }): Router {
  const api = Router();

  serve(api, routes.bulkRequestDiagnostics, async ({ body }, _req, res) => {
    const target = typeof body.agents === 'string' ? { filter: parseAgentKuery(body.agents) } : { ids: body.agents };
    if ('ids' in target) noteAuditTarget(res, { agent_ids: target.ids }, 'REQUEST_DIAGNOSTICS');
    const actionId = await bulkRequestDiagnostics(deps.agents, target, body.additional_metrics, actorOf(res).name);
    noteAuditTarget(res, { action_id: actionId }, 'REQUEST_DIAGNOSTICS');
    res.json({ actionId });
  });

  serve(api, routes.getAgentFile, async ({ params }, _req, res) => {
    const file = await readyFile(deps.agents, params.fileId, params.fileName);
    res.status(200);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Disposition', `attachment; filename="${dispositionName(file.doc.file.name)}"`);
    res.setHeader('Content-Length', String(file.doc.file.size));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    await streamFile(deps, file, res);
  });

  serve(api, routes.requestDiagnostics, async ({ params, body }, _req, res) => {
    noteAuditTarget(res, { agent_ids: [params.id] }, 'REQUEST_DIAGNOSTICS');
    const actionId = await requestDiagnostics(deps.agents, params.id, body.additional_metrics, actorOf(res).name);
    noteAuditTarget(res, { action_id: actionId });
    res.json({ actionId });
  });

  serve(api, routes.listAgentUploads, async ({ params }, _req, res) => {
    res.json({ items: await agentUploads(deps.agents, params.id) });
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
