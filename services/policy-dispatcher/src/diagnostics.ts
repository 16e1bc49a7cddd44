import { InputError, NotFoundError, parseSemVer } from '@fleet/service-kit';
import { uploadFileId, type ActionDoc, type AgentDoc, type UploadRecord, type UploadStatus } from '@fleet/store';
import type { AgentFilter } from './agent-kuery';
import { createAction, getAgent, resolveBulkTarget, type AgentAdminDeps } from './agent-management';

/** Kibana's REQUEST_DIAGNOSTICS expiry. */
const DIAGNOSTICS_EXPIRY_MS = 3 * 3_600_000;
/** Agents older than this cannot upload diagnostics (Kibana's isAgentRequestDiagnosticsSupported). */
const MIN_VERSION = { major: 8, minor: 7 };
const MAX_BULK = 10_000;

export type DiagnosticsStatus = 'READY' | 'AWAITING_UPLOAD' | 'IN_PROGRESS' | 'FAILED' | 'EXPIRED' | 'DELETED';

/** One entry of `GET /api/fleet/agents/:id/uploads`, as Kibana's AgentDiagnostics. */
export interface AgentUploadItem {
  id: string;
  name: string;
  filePath: string;
  createTime: string;
  status: DiagnosticsStatus;
  actionId: string;
  error?: string;
}

const nowOf = (deps: AgentAdminDeps): Date => (deps.now ?? (() => new Date()))();

function supportsDiagnostics(agent: AgentDoc): boolean {
  const version = parseSemVer(agent.agent?.version ?? '');
  return !!version && (version.major > MIN_VERSION.major || (version.major === MIN_VERSION.major && version.minor >= MIN_VERSION.minor));
}

async function diagnosticsAction(deps: AgentAdminDeps, agentIds: string[], additionalMetrics: string[] | undefined, user: string) {
  const expiration = new Date(nowOf(deps).getTime() + DIAGNOSTICS_EXPIRY_MS).toISOString();
  const hit = await createAction(
    deps,
    agentIds,
    { type: 'REQUEST_DIAGNOSTICS', expiration, ...(additionalMetrics?.length ? { data: { additional_metrics: additionalMetrics } } : {}) },
    user,
  );
  return hit._source.action_id;
}

/** `POST /agents/:id/request_diagnostics`: a REQUEST_DIAGNOSTICS action for one active agent. */
export async function requestDiagnostics(deps: AgentAdminDeps, id: string, additionalMetrics: string[] | undefined, user: string): Promise<string> {
  const hit = await getAgent(deps.store, id);
  if (!hit._source.active) throw new InputError(`Agent ${id} is not active`);
  if (!supportsDiagnostics(hit._source)) throw new InputError(`Agent ${id} does not support request diagnostics action.`);
  return diagnosticsAction(deps, [id], additionalMetrics, user);
}

/**
 * `POST /agents/bulk_request_diagnostics`: one action for the listed (or matching) agents that are
 * active and recent enough; the others are skipped, as Kibana skips them.
 */
export async function bulkRequestDiagnostics(
  deps: AgentAdminDeps,
  target: { ids: string[] } | { filter: AgentFilter },
  additionalMetrics: string[] | undefined,
  user: string,
): Promise<string> {
  const { agents } = await resolveBulkTarget(deps, target);
  const ids = agents.filter((h) => h._source.active && supportsDiagnostics(h._source)).map((h) => h._id);
  if (!ids.length) throw new InputError('No active agent supporting request diagnostics matches');
  return diagnosticsAction(deps, ids, additionalMetrics, user);
}

/** Where the management API serves a READY file (Kibana's getAgentFileDownloadLink). */
export const agentFilePath = (fileId: string, fileName: string): string =>
  `/api/fleet/agents/files/${encodeURIComponent(fileId)}/${encodeURIComponent(fileName)}`;

const FILE_STATUS: Record<UploadStatus, DiagnosticsStatus> = {
  READY: 'READY',
  AWAITING_UPLOAD: 'AWAITING_UPLOAD',
  UPLOADING: 'IN_PROGRESS',
  UPLOAD_ERROR: 'FAILED',
  EXPIRED: 'EXPIRED',
  DELETED: 'DELETED',
};

const defaultName = (timestamp: string): string =>
  `elastic-agent-diagnostics-${new Date(timestamp).toISOString().slice(0, 19).replace(/:/g, '-')}Z-00.zip`;

/**
 * Kibana's agent uploads: one entry per REQUEST_DIAGNOSTICS action of the agent, newest first, with
 * the status of its file, or — without a file — EXPIRED (action expired), FAILED (the agent acked
 * with an error) or IN_PROGRESS. Deleted files are left out.
 */
export async function agentUploads(deps: AgentAdminDeps, agentId: string): Promise<AgentUploadItem[]> {
  await getAgent(deps.store, agentId);
  const now = nowOf(deps);
  // Every action ever addressed to the agent (evaluated at the epoch, none has expired), once the
  // newest ones are visible to the query.
  await deps.store.actions.awaitVisible(await deps.store.actions.checkpoint());
  const actions = (await deps.store.actions.pendingFor({ agentId, afterSeqNo: -1, now: new Date(0), limit: MAX_BULK }))
    .map((h) => h._source)
    .filter((a) => a.type === 'REQUEST_DIAGNOSTICS')
    .sort((a, b) => (b['@timestamp'] ?? '').localeCompare(a['@timestamp'] ?? ''));
  const items: AgentUploadItem[] = [];
  for (const action of actions) {
    const file = await deps.store.uploads.get(uploadFileId(action.action_id, agentId));
    if (file?.doc.file.Status === 'DELETED') continue;
    const result = (await deps.store.actionResults.listByActionId(action.action_id)).find((r) => r._source.agent_id === agentId);
    items.push(uploadItem(action, file, result?._source.error, now));
  }
  return items;
}

function uploadItem(action: ActionDoc, file: UploadRecord | undefined, ackError: string | undefined, now: Date): AgentUploadItem {
  const createTime = action['@timestamp'] ?? now.toISOString();
  const expired = action.expiration ? Date.parse(action.expiration) < now.getTime() : false;
  let status: DiagnosticsStatus;
  if (file) status = ackError && file.doc.file.Status !== 'READY' ? 'FAILED' : FILE_STATUS[file.doc.file.Status];
  else status = expired ? 'EXPIRED' : ackError ? 'FAILED' : 'IN_PROGRESS';
  const error = ackError ?? (file?.doc.file.Status === 'UPLOAD_ERROR' ? 'the upload failed validation' : undefined);
  const name = file?.doc.file.name ?? defaultName(createTime);
  return {
    id: file?.id ?? action.action_id,
    name,
    filePath: file ? agentFilePath(file.id, name) : '',
    createTime,
    status,
    actionId: action.action_id,
    ...(error ? { error } : {}),
  };
}

/** The READY file with this id and name; NotFoundError otherwise (nothing partial is ever served). */
export async function readyFile(deps: AgentAdminDeps, fileId: string, fileName: string): Promise<UploadRecord> {
  const file = await deps.store.uploads.get(fileId);
  if (!file || file.doc.file.Status !== 'READY' || file.doc.file.name !== fileName) {
    throw new NotFoundError(`File ${fileId} not found`);
  }
  return file;
}
