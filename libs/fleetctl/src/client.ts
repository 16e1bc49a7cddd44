import { managementRoutes as routes, type RouteSpec } from '@fleet/management-api';
import type { z } from 'zod';
import type { Connection } from './connection';
import { CliError } from './errors';
import { downloadTo, followEvents, requestJson } from './http';

type R = typeof routes;
type BodyOf<K extends keyof R> = R[K] extends RouteSpec<z.ZodType, z.ZodType, infer B, z.ZodType> ? z.input<B> : never;
type AnswerOf<K extends keyof R> = R[K] extends RouteSpec<z.ZodType, z.ZodType, z.ZodType, infer A> ? (A extends z.ZodType ? z.output<A> : never) : never;

export type AgentPolicy = AnswerOf<'getAgentPolicy'>['item'];
/** A policy read or saved, with the server's warnings about its outputs' credentials. */
export type PolicyAnswer = AnswerOf<'getAgentPolicy'>;
export type AgentPolicyCreate = BodyOf<'createAgentPolicy'>;
export type AgentPolicyUpdate = BodyOf<'updateAgentPolicy'>;
export type EnrollmentKey = AnswerOf<'getEnrollmentKey'>['item'];
export type EnrollmentKeyCreate = BodyOf<'createEnrollmentKey'>;
export type Agent = AnswerOf<'getAgent'>['item'];
export type AgentUpgrade = BodyOf<'upgradeAgent'>;
export type BulkReassign = BodyOf<'bulkReassignAgents'>;
export type BulkUnenroll = BodyOf<'bulkUnenrollAgents'>;
export type BulkUpgrade = BodyOf<'bulkUpgradeAgents'>;
export type BulkTags = BodyOf<'bulkUpdateAgentTags'>;
export type RolloutSnapshot = AnswerOf<'getActionRollout'>['item'];
export type UploadItem = AnswerOf<'listAgentUploads'>['items'][number];

/** What a call sends: path parameters, query and body (typed by the route), extra headers. */
interface CallInput<P, B> {
  params?: P;
  query?: Record<string, string | number | boolean | undefined>;
  body?: B;
  headers?: Record<string, string>;
}

/** A route's path with its parameters filled in (encoded). */
function pathOf<P extends z.ZodType>(route: RouteSpec<P>, params: z.input<P> | undefined): string {
  const values = (params ?? {}) as Record<string, unknown>;
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (typeof value !== 'string') throw new CliError(`${route.operationId}: no value for {${name}}`);
    return enc(value);
  });
}

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

  /**
   * Calls one route of the table: its method and path, the body its schema takes, and the answer
   * parsed with its response schema (a server that answers something else is an error).
   */
  private async call<P extends z.ZodType, B extends z.ZodType, A extends z.ZodType>(
    route: RouteSpec<P, z.ZodType, B, A>,
    input: CallInput<z.input<P>, z.input<B>> = {},
  ): Promise<z.output<A>> {
    const path = pathOf(route, input.params);
    const method = route.method.toUpperCase();
    const answer = await requestJson(this.conn, method, path, { query: input.query, body: input.body, headers: input.headers });
    const parsed = route.response.safeParse(answer.body);
    if (!parsed.success) throw new CliError(`${method} ${path}: unexpected answer (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? ''})`);
    return parsed.data;
  }

  // ---- agent policies
  listPolicies(q: ListQuery & { withAgentCount?: boolean } = {}) {
    return this.call(routes.listAgentPolicies, { query: { page: q.page, perPage: q.perPage, withAgentCount: q.withAgentCount } });
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
    return (await this.readPolicy(id)).item;
  }
  readPolicy(id: string): Promise<PolicyAnswer> {
    return this.call(routes.getAgentPolicy, { params: { id } });
  }
  createPolicy(body: AgentPolicyCreate): Promise<PolicyAnswer> {
    return this.call(routes.createAgentPolicy, { body });
  }
  /** An update, refused by the server (412) when the policy is no longer at `revision`. */
  updatePolicy(id: string, body: AgentPolicyUpdate, revision?: number): Promise<PolicyAnswer> {
    return this.call(routes.updateAgentPolicy, { params: { id }, body, ...(revision !== undefined ? { headers: ifMatch(revision) } : {}) });
  }
  /** A delete; `force` deletes a policy agents still use (they are unenrolled). */
  deletePolicy(id: string, opts: { revision?: number; force?: boolean } = {}) {
    const headers = opts.revision !== undefined ? ifMatch(opts.revision) : {};
    return this.call(routes.deleteAgentPolicy, { params: { id }, query: { force: opts.force ? 'true' : undefined }, headers });
  }

  // ---- enrollment tokens
  listEnrollmentKeys(q: ListQuery & { policyId?: string } = {}) {
    return this.call(routes.listEnrollmentKeys, { query: { page: q.page, perPage: q.perPage, kuery: q.policyId ? `policy_id:"${q.policyId}"` : undefined } });
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
    return (await this.call(routes.createEnrollmentKey, { body })).item;
  }
  async revokeEnrollmentKey(id: string): Promise<void> {
    await this.call(routes.revokeEnrollmentKey, { params: { id } });
  }

  // ---- agents
  listAgents(q: ListQuery) {
    return this.call(routes.listAgents, { query: { page: q.page, perPage: q.perPage, kuery: q.kuery, showInactive: q.showInactive ? 'true' : undefined } });
  }
  async getAgent(id: string): Promise<Agent> {
    return (await this.call(routes.getAgent, { params: { id } })).item;
  }
  async unenrollAgent(id: string, revoke: boolean): Promise<void> {
    await this.call(routes.unenrollAgent, { params: { id }, body: revoke ? { revoke: true } : {} });
  }
  async reassignAgent(id: string, policyId: string): Promise<void> {
    await this.call(routes.reassignAgent, { params: { id }, body: { policy_id: policyId } });
  }
  async upgradeAgent(id: string, body: AgentUpgrade): Promise<void> {
    await this.call(routes.upgradeAgent, { params: { id }, body });
  }
  async setAgentTags(id: string, tags: string[]): Promise<Agent> {
    return (await this.call(routes.updateAgent, { params: { id }, body: { tags } })).item;
  }
  bulkUnenroll(body: BulkUnenroll) {
    return this.call(routes.bulkUnenrollAgents, { body });
  }
  bulkReassign(body: BulkReassign) {
    return this.call(routes.bulkReassignAgents, { body });
  }
  bulkUpgrade(body: BulkUpgrade) {
    return this.call(routes.bulkUpgradeAgents, { body });
  }
  bulkTags(body: BulkTags) {
    return this.call(routes.bulkUpdateAgentTags, { body });
  }

  // ---- diagnostics
  requestDiagnostics(id: string) {
    return this.call(routes.requestDiagnostics, { params: { id }, body: {} });
  }
  async uploads(id: string): Promise<UploadItem[]> {
    return (await this.call(routes.listAgentUploads, { params: { id } })).items;
  }
  /** Downloads an upload (`filePath` of the uploads list, `/api/fleet/agents/files/{id}/{name}`) into `file`. */
  download(filePath: string, file: string): Promise<number> {
    if (!filePath.startsWith(`${API}/agents/files/`)) throw new CliError(`unexpected upload path ${filePath}`);
    return downloadTo(this.conn, filePath, file);
  }

  // ---- actions
  async actionStatus(actionId: string): Promise<RolloutSnapshot> {
    return (await this.call(routes.getActionRollout, { params: { actionId } })).item;
  }
  /** Follows an action's progress stream; answers the last snapshot seen and whether it completed. */
  async followAction(actionId: string, deadline: number, onProgress: (s: RolloutSnapshot) => void): Promise<{ complete: boolean; last?: RolloutSnapshot }> {
    let last: RolloutSnapshot | undefined;
    // The server ends a stream after its maximum duration: reconnect until done or the deadline.
    for (let attempt = 0; attempt < 1000 && Date.now() < deadline; attempt++) {
      const done = await followEvents(this.conn, pathOf(routes.streamActionRollout, { actionId }), deadline, (data) => {
        const parsed = routes.getActionRollout.response.shape.item.safeParse(data);
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
