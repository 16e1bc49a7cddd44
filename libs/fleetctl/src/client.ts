import {
  agentItem,
  agentPolicyCreateBody,
  agentPolicyItem,
  agentPolicyUpdateBody,
  agentUpgradeBody,
  bulkActionResult,
  bulkReassignBody,
  bulkTagsBody,
  bulkUnenrollBody,
  bulkUpgradeBody,
  enrollmentKeyCreateBody,
  enrollmentKeyItem,
  pageOf,
} from '@fleet/management-api';
import { z } from 'zod';
import type { Connection } from './connection';
import { CliError } from './errors';
import { downloadTo, followEvents, requestJson, type RequestOptions } from './http';

export type AgentPolicy = z.output<typeof agentPolicyItem>;
export type AgentPolicyCreate = z.input<typeof agentPolicyCreateBody>;
export type AgentPolicyUpdate = z.input<typeof agentPolicyUpdateBody>;
export type EnrollmentKey = z.output<typeof enrollmentKeyItem>;
export type EnrollmentKeyCreate = z.input<typeof enrollmentKeyCreateBody>;
export type Agent = z.output<typeof agentItem>;
export type AgentUpgrade = z.input<typeof agentUpgradeBody>;
export type BulkReassign = z.input<typeof bulkReassignBody>;
export type BulkUnenroll = z.input<typeof bulkUnenrollBody>;
export type BulkUpgrade = z.input<typeof bulkUpgradeBody>;
export type BulkTags = z.input<typeof bulkTagsBody>;

/** What `GET /api/fleet/rollouts/actions/{id}` answers (and its stream sends). */
export const rolloutSnapshot = z.looseObject({
  kind: z.string(),
  action_id: z.string().optional(),
  action_type: z.string().optional(),
  targeted: z.number(),
  delivered: z.number(),
  acknowledged: z.number(),
  failed: z.number(),
  complete: z.boolean(),
  behind_total: z.number().optional(),
});
export type RolloutSnapshot = z.output<typeof rolloutSnapshot>;

export const uploadItem = z.looseObject({ id: z.string(), name: z.string().optional(), filePath: z.string().optional(), status: z.string(), createTime: z.string().optional(), actionId: z.string().optional() });
export type UploadItem = z.output<typeof uploadItem>;

const itemOf = <T extends z.ZodType>(schema: T) => z.object({ item: schema });
const policyPage = pageOf(agentPolicyItem);
const keyPage = pageOf(enrollmentKeyItem);
const agentPage = pageOf(agentItem);
const uploads = z.object({ items: z.array(uploadItem) });
const deleted = z.looseObject({ id: z.string() });

/** The largest page the list routes answer. */
export const MAX_PAGE = 10_000;
/** Pages read to list everything (bounded: 100 × 10,000 objects). */
const MAX_PAGES = 100;

const API = '/api/fleet';
const enc = encodeURIComponent;

export interface ListQuery {
  page?: number;
  perPage?: number;
  kuery?: string;
  showInactive?: boolean;
}

/** `If-Match` for an object's revision (the server's ETag is the quoted revision). */
export const ifMatch = (revision: number): Record<string, string> => ({ 'If-Match': `"${revision}"` });

/**
 * The management API, typed from the schemas of @fleet/management-api: requests are their input
 * types, answers are parsed with their item schemas (a server that answers something else is an error).
 */
export class FleetClient {
  constructor(readonly conn: Connection) {}

  private async call<T extends z.ZodType>(schema: T, method: string, path: string, opts: RequestOptions = {}): Promise<z.output<T>> {
    const answer = await requestJson(this.conn, method, `${API}${path}`, opts);
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success) throw new CliError(`${method} ${API}${path}: unexpected answer (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? ''})`);
    return parsed.data;
  }

  // ---- agent policies
  listPolicies(q: ListQuery & { withAgentCount?: boolean } = {}) {
    return this.call(policyPage, 'GET', '/agent_policies', { query: { page: q.page, perPage: q.perPage, withAgentCount: q.withAgentCount } });
  }
  /** Every policy, page after page (bounded). */
  async allPolicies(withAgentCount = false): Promise<AgentPolicy[]> {
    const out: AgentPolicy[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const res = await this.listPolicies({ page, perPage: 1000, withAgentCount });
      out.push(...res.items);
      if (res.items.length === 0 || out.length >= res.total) return out;
    }
    throw new CliError(`more than ${MAX_PAGES * 1000} agent policies`);
  }
  async getPolicy(id: string): Promise<AgentPolicy> {
    return (await this.call(itemOf(agentPolicyItem), 'GET', `/agent_policies/${enc(id)}`)).item;
  }
  async createPolicy(body: AgentPolicyCreate): Promise<AgentPolicy> {
    return (await this.call(itemOf(agentPolicyItem), 'POST', '/agent_policies', { body })).item;
  }
  /** An update, refused by the server (412) when the policy is no longer at `revision`. */
  async updatePolicy(id: string, body: AgentPolicyUpdate, revision?: number): Promise<AgentPolicy> {
    return (await this.call(itemOf(agentPolicyItem), 'PUT', `/agent_policies/${enc(id)}`, { body, ...(revision !== undefined ? { headers: ifMatch(revision) } : {}) })).item;
  }
  /** A delete; `force` deletes a policy agents still use (they are unenrolled). */
  deletePolicy(id: string, opts: { revision?: number; force?: boolean } = {}) {
    const headers = opts.revision !== undefined ? ifMatch(opts.revision) : {};
    if (opts.force) return this.call(deleted, 'POST', '/agent_policies/delete', { body: { agentPolicyId: id, force: true }, headers });
    return this.call(deleted, 'DELETE', `/agent_policies/${enc(id)}`, { headers });
  }

  // ---- enrollment tokens
  listEnrollmentKeys(q: ListQuery & { policyId?: string } = {}) {
    return this.call(keyPage, 'GET', '/enrollment_api_keys', { query: { page: q.page, perPage: q.perPage, kuery: q.policyId ? `policy_id:"${q.policyId}"` : undefined } });
  }
  async allEnrollmentKeys(): Promise<EnrollmentKey[]> {
    const out: EnrollmentKey[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const res = await this.listEnrollmentKeys({ page, perPage: 1000 });
      out.push(...res.items);
      if (res.items.length === 0 || out.length >= res.total) return out;
    }
    throw new CliError(`more than ${MAX_PAGES * 1000} enrollment tokens`);
  }
  async createEnrollmentKey(body: EnrollmentKeyCreate): Promise<EnrollmentKey> {
    return (await this.call(itemOf(enrollmentKeyItem), 'POST', '/enrollment_api_keys', { body })).item;
  }
  async revokeEnrollmentKey(id: string): Promise<void> {
    await this.call(z.unknown(), 'DELETE', `/enrollment_api_keys/${enc(id)}`);
  }

  // ---- agents
  listAgents(q: ListQuery) {
    return this.call(agentPage, 'GET', '/agents', { query: { page: q.page, perPage: q.perPage, kuery: q.kuery, showInactive: q.showInactive ? 'true' : undefined } });
  }
  async getAgent(id: string): Promise<Agent> {
    return (await this.call(itemOf(agentItem), 'GET', `/agents/${enc(id)}`)).item;
  }
  async unenrollAgent(id: string, revoke: boolean): Promise<void> {
    await this.call(z.unknown(), 'POST', `/agents/${enc(id)}/unenroll`, { body: revoke ? { revoke: true } : {} });
  }
  async reassignAgent(id: string, policyId: string): Promise<void> {
    await this.call(z.unknown(), 'POST', `/agents/${enc(id)}/reassign`, { body: { policy_id: policyId } });
  }
  async upgradeAgent(id: string, body: AgentUpgrade): Promise<void> {
    await this.call(z.unknown(), 'POST', `/agents/${enc(id)}/upgrade`, { body });
  }
  async setAgentTags(id: string, tags: string[]): Promise<Agent> {
    return (await this.call(itemOf(agentItem), 'PUT', `/agents/${enc(id)}`, { body: { tags } })).item;
  }
  bulkUnenroll(body: BulkUnenroll) {
    return this.call(bulkActionResult, 'POST', '/agents/bulk_unenroll', { body });
  }
  bulkReassign(body: BulkReassign) {
    return this.call(bulkActionResult, 'POST', '/agents/bulk_reassign', { body });
  }
  bulkUpgrade(body: BulkUpgrade) {
    return this.call(bulkActionResult, 'POST', '/agents/bulk_upgrade', { body });
  }
  bulkTags(body: BulkTags) {
    return this.call(bulkActionResult, 'POST', '/agents/bulk_update_agent_tags', { body });
  }

  // ---- diagnostics
  requestDiagnostics(id: string) {
    return this.call(bulkActionResult, 'POST', `/agents/${enc(id)}/request_diagnostics`, { body: {} });
  }
  async uploads(id: string): Promise<UploadItem[]> {
    return (await this.call(uploads, 'GET', `/agents/${enc(id)}/uploads`)).items;
  }
  /** Downloads an upload (`filePath` of the uploads list, `/api/fleet/agents/files/{id}/{name}`) into `file`. */
  download(filePath: string, file: string): Promise<number> {
    if (!filePath.startsWith(`${API}/agents/files/`)) throw new CliError(`unexpected upload path ${filePath}`);
    return downloadTo(this.conn, filePath, file);
  }

  // ---- actions
  async actionStatus(actionId: string): Promise<RolloutSnapshot> {
    return (await this.call(itemOf(rolloutSnapshot), 'GET', `/rollouts/actions/${enc(actionId)}`)).item;
  }
  /** Follows an action's progress stream; answers the last snapshot seen and whether it completed. */
  async followAction(actionId: string, deadline: number, onProgress: (s: RolloutSnapshot) => void): Promise<{ complete: boolean; last?: RolloutSnapshot }> {
    let last: RolloutSnapshot | undefined;
    // The server ends a stream after its maximum duration: reconnect until done or the deadline.
    for (let attempt = 0; attempt < 1000 && Date.now() < deadline; attempt++) {
      const done = await followEvents(this.conn, `${API}/rollouts/actions/${enc(actionId)}/stream`, deadline, (data) => {
        const parsed = rolloutSnapshot.safeParse(data);
        if (!parsed.success) return false;
        last = parsed.data;
        onProgress(parsed.data);
        return parsed.data.complete;
      });
      if (done) return { complete: true, last };
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))));
    }
    return { complete: false, ...(last ? { last } : {}) };
  }
}
