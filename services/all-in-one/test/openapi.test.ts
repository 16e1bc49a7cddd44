import { expressPath, managementRoutes, type RouteSpec } from '@fleet/management-api';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020';
import { expect } from 'chai';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import request from 'supertest';
import { checkOpenApiDocument } from '../../../scripts/openapi-document';
import { enrollAgent, eventually, startHarness, type Harness } from './support/fleet-server-harness';

type OpenApi = {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; 'x-fleet-roles': string[]; responses: Record<string, { content?: Record<string, unknown> }> }>>;
};

const COMMITTED = resolve(__dirname, '../../../docs/openapi.json');
const ROUTES = Object.values(managementRoutes) as RouteSpec[];

/** Every route (method and path) a router serves, found by walking its stack; nested routers add their mount path. */
function servedRoutes(router: unknown, prefix = ''): string[] {
  type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] }; rawPath?: unknown };
  const out: string[] = [];
  for (const layer of (router as { stack: Layer[] }).stack) {
    if (layer.route) {
      for (const method of Object.keys(layer.route.methods)) out.push(`${method} ${prefix}${layer.route.path}`);
    } else if (layer.handle?.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      out.push(...servedRoutes(layer.handle, prefix + mount));
    }
  }
  return out;
}

describe('Management API OpenAPI document', function () {
  let h: Harness;
  let doc: OpenApi;
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });

  before(async () => {
    h = await startHarness();
    const res = await request(h.url).get('/api/fleet/openapi.json').set(h.admin).expect(200).expect('Content-Type', /application\/json/);
    doc = res.body as OpenApi;
    ajv.addSchema(doc, 'openapi.json');
  });
  after(async () => {
    await h.stop();
  });

  /** Asserts a real answer is one the document declares for the operation: status listed, body valid. */
  function expectConforms(route: RouteSpec, res: request.Response): void {
    const op = doc.paths[route.path]?.[route.method];
    expect(op, `${route.method} ${route.path} in the document`).to.not.equal(undefined);
    const declared = op?.responses[String(res.status)];
    expect(declared, `${route.operationId} answered ${res.status} (${JSON.stringify(res.body)}), which the document does not list`).to.not.equal(undefined);
    if (!declared?.content?.['application/json']) return;
    expect(res.headers['content-type']).to.match(/application\/json/);
    const pointer = ['paths', route.path, route.method, 'responses', String(res.status), 'content', 'application/json', 'schema']
      .map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1'))
      .join('/');
    const validate = ajv.getSchema(`openapi.json#/${pointer}`);
    expect(validate, pointer).to.not.equal(undefined);
    const ok = validate?.(res.body);
    expect(ok, `${route.operationId} ${res.status}: ${JSON.stringify(validate?.errors)} in ${JSON.stringify(res.body).slice(0, 500)}`).to.equal(true);
  }

  it('When the document is served, then it is valid OpenAPI 3.1, names every route of the table with its roles, and is the committed docs/openapi.json', async () => {
    const result = await new Validator().validate(doc);
    expect(result.valid, JSON.stringify(result.errors)).to.equal(true);
    expect(doc.openapi).to.equal('3.1.0');
    for (const r of ROUTES) {
      const op = doc.paths[r.path]?.[r.method];
      expect(op?.operationId, `${r.method} ${r.path}`).to.equal(r.operationId);
      expect(op?.['x-fleet-roles']).to.deep.equal(r.roles === 'public' ? [] : [...r.roles]);
    }
    const operations = Object.values(doc.paths).flatMap((p) => Object.keys(p));
    expect(operations).to.have.length(ROUTES.length);
    const committed = checkOpenApiDocument(COMMITTED);
    expect(committed.ok, `${committed.reason ?? ''} (run \`npm run docs:openapi\`)`).to.equal(true);
  });

  it('When the routes Express serves under /api/fleet are listed, then they are exactly the table\'s (no drift either way)', () => {
    const served = servedRoutes(h.server.dispatcher.router)
      .filter((r) => r.split(' ')[1]?.startsWith('/api/fleet/'))
      .sort();
    const table = ROUTES.map((r) => `${r.method} /api/fleet${expressPath(r)}`).sort();
    expect(served).to.deep.equal(table);
  });

  it('When the document is asked for without a token, then it is 401 like every /api/fleet route', async () => {
    const res = await request(h.url).get('/api/fleet/openapi.json').expect(401);
    expectConforms(managementRoutes.getOpenApiDocument, res);
  });

  it('When a scripted session runs (policies, tokens, agents, a bulk call, errors), then every answer conforms to the document', async () => {
    const r = managementRoutes;
    const api = () => request(h.url);
    const created = await api().post('/api/fleet/agent_policies').set(h.admin).send({ name: 'openapi session', namespace: 'prod', description: 'd' });
    expectConforms(r.createAgentPolicy, created);
    const id = (created.body as { item: { id: string } }).item.id;
    expectConforms(r.listAgentPolicies, await api().get('/api/fleet/agent_policies').query({ withAgentCount: 'true' }).set(h.admin));
    expectConforms(r.getAgentPolicy, await api().get(`/api/fleet/agent_policies/${id}`).set(h.admin));
    expectConforms(r.getFullAgentPolicy, await api().get(`/api/fleet/agent_policies/${id}/full`).set(h.admin));
    expectConforms(r.updateAgentPolicy, await api().put(`/api/fleet/agent_policies/${id}`).set(h.admin).send({ description: 'e' }));
    expectConforms(r.listAgentPolicyRevisions, await api().get(`/api/fleet/agent_policies/${id}/revisions`).set(h.admin));
    expectConforms(r.getAgentPolicyRevision, await api().get(`/api/fleet/agent_policies/${id}/revisions/2`).set(h.admin));

    const token = await api().post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: id, name: 'ci' });
    expectConforms(r.createEnrollmentKey, token);
    const tokenId = (token.body as { item: { id: string } }).item.id;
    expectConforms(r.listEnrollmentKeys, await api().get('/api/fleet/enrollment_api_keys').set(h.admin));
    expectConforms(r.getEnrollmentKey, await api().get(`/api/fleet/enrollment_api_keys/${tokenId}`).set(h.admin));
    expectConforms(r.revokeEnrollmentKey, await api().delete(`/api/fleet/enrollment_api_keys/${tokenId}`).set(h.admin));

    const agent = await enrollAgent(h, {}, ['blue']);
    try {
      await h.server.gateway.statusWrites.flush();
      expectConforms(r.listAgents, await api().get('/api/fleet/agents').set(h.admin));
      expectConforms(r.getAgent, await api().get(`/api/fleet/agents/${agent.agentId}`).set(h.admin));
      expectConforms(r.updateAgent, await api().put(`/api/fleet/agents/${agent.agentId}`).set(h.admin).send({ tags: ['blue', 'green'] }));
      expectConforms(r.listAgentTags, await api().get('/api/fleet/agents/tags').set(h.admin));
      expectConforms(r.getAgentStatusSummary, await api().get('/api/fleet/agent_status').set(h.admin));
      expectConforms(r.getAgentStatusHistory, await api().get('/api/fleet/agent_status/history').set(h.admin));
      expectConforms(r.getConsoleMetrics, await api().get('/api/fleet/console/metrics').set(h.admin));
      const bulk = await api().post('/api/fleet/agents/bulk_update_agent_tags').set(h.admin).send({ agents: [agent.agentId, 'missing'], tagsToAdd: ['red'] });
      expectConforms(r.bulkUpdateAgentTags, bulk);
      expect((bulk.body as { skipped: unknown[] }).skipped).to.have.length(1);
      const action = await api().post(`/api/fleet/agents/${agent.agentId}/actions`).set(h.admin).send({ action: { type: 'SETTINGS', data: { log_level: 'debug' } } });
      expectConforms(r.createAgentAction, action);
      expectConforms(r.getAgentActionHistory, await api().get(`/api/fleet/agents/${agent.agentId}/action_history`).set(h.admin));
      expectConforms(r.getActionRollout, await api().get(`/api/fleet/rollouts/actions/${(action.body as { item: { id: string } }).item.id}`).set(h.admin));
      expectConforms(r.getPolicyRollout, await api().get('/api/fleet/rollouts/policies/fleet-default-policy').set(h.admin));
      expectConforms(r.listAgentUploads, await api().get(`/api/fleet/agents/${agent.agentId}/uploads`).set(h.admin));
      expectConforms(r.reassignAgent, await api().post(`/api/fleet/agents/${agent.agentId}/reassign`).set(h.admin).send({ policy_id: id }));
    } finally {
      agent.close();
    }

    const key = await api().post('/api/fleet/management_api_keys').set(h.admin).send({ name: 'reader', role: 'read-only' });
    expectConforms(r.createManagementKey, key);
    const reader = { Authorization: `Bearer ${(key.body as { item: { api_key: string } }).item.api_key}` };
    expectConforms(r.listManagementKeys, await api().get('/api/fleet/management_api_keys').set(h.admin));
    expectConforms(r.listAuditLog, await api().get('/api/fleet/audit_log').set(h.admin));

    // The errors: 400, 401, 403, 404, 409, and the policy still in use (400).
    expectConforms(r.createAgentPolicy, await api().post('/api/fleet/agent_policies').set(h.admin).send({ name: '', unknown: 1 }).expect(400));
    expectConforms(r.listAgents, await api().get('/api/fleet/agents').set({ Authorization: 'Bearer nope' }).expect(401));
    // Schemathesis found these a 500 (an offset past what the store can page to): every list stops at the result window.
    for (const [route, path] of [
      [r.listAgentPolicies, '/api/fleet/agent_policies'],
      [r.listEnrollmentKeys, '/api/fleet/enrollment_api_keys'],
      [r.listManagementKeys, '/api/fleet/management_api_keys'],
    ] as const) {
      const deep = await api().get(path).query({ page: 9007199254740991, perPage: 2144 }).set(h.admin).expect(400);
      expectConforms(route, deep);
      expect((deep.body as { message: string }).message).to.equal('page: page * perPage must be at most 10000');
    }
    expectConforms(r.deleteAgentPolicy, await api().delete(`/api/fleet/agent_policies/${id}`).set(reader).expect(403));
    expectConforms(r.getAgentPolicy, await api().get('/api/fleet/agent_policies/no-such-policy').set(h.admin).expect(404));
    expectConforms(r.createAgentPolicy, await api().post('/api/fleet/agent_policies').set(h.admin).send({ name: 'openapi session' }).expect(409));
    expectConforms(r.bulkDeleteAgentPolicy, await api().post('/api/fleet/agent_policies/delete').set(h.admin).send({ agentPolicyId: id }).expect(400));
    expectConforms(r.revokeManagementKey, await api().delete(`/api/fleet/management_api_keys/${(key.body as { item: { id: string } }).item.id}`).set(h.admin));
  });

  it('When a query is too long for the HTTP parser (schemathesis found it), then the 400 carries the JSON error body too', async () => {
    const { port } = new URL(h.url);
    const raw = await new Promise<string>((done, fail) => {
      const socket = connect(Number(port), '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
      socket.on('end', () => done(answer));
      socket.on('error', fail);
      socket.write(`GET /api/fleet/agents/tags?kuery=${'%EE%A0%A1'.repeat(3000)} HTTP/1.1\r\nHost: x\r\nAuthorization: ${h.admin.Authorization}\r\n\r\n`);
    });
    const [head = '', body = ''] = raw.split('\r\n\r\n');
    expect(head).to.match(/^HTTP\/1\.1 400 Bad Request/).and.match(/content-type: application\/json/i);
    expect(JSON.parse(body)).to.deep.equal({ statusCode: 400, error: 'Bad Request', message: 'the request could not be read (HPE_HEADER_OVERFLOW)' });
  });

  describe('preconditions', () => {
    const createPolicy = async (name: string) =>
      ((await request(h.url).post('/api/fleet/agent_policies').set(h.admin).send({ name }).expect(200)).body as { item: { id: string } }).item.id;

    it('When a policy is read or updated, then ETag is its revision; an update with a stale If-Match is 412 and changes nothing', async () => {
      const id = await createPolicy('etag policy');
      const read = await request(h.url).get(`/api/fleet/agent_policies/${id}`).set(h.admin).expect(200);
      expect(read.headers.etag).to.equal('"1"');
      const updated = await request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).set('If-Match', '"1"').send({ description: 'first' }).expect(200);
      expect(updated.headers.etag).to.equal('"2"');
      expectConforms(managementRoutes.updateAgentPolicy, updated);

      // A second writer that read revision 1 too.
      const stale = await request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).set('If-Match', '"1"').send({ description: 'lost' }).expect(412);
      expect(stale.body).to.deep.equal({ statusCode: 412, error: 'Precondition Failed', message: `Agent policy ${id} is at revision 2, not 1` });
      expectConforms(managementRoutes.updateAgentPolicy, stale);
      const after = await request(h.url).get(`/api/fleet/agent_policies/${id}`).set(h.admin).expect(200);
      expect((after.body as { item: { description: string; revision: number } }).item).to.include({ description: 'first', revision: 2 });
      expect((await h.server.store.policies.latest(id))?._source.revision_idx).to.equal(2);

      const malformed = await request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).set('If-Match', 'two').send({ description: 'x' }).expect(400);
      expectConforms(managementRoutes.updateAgentPolicy, malformed);
      // `*` is no precondition; a weak tag names a revision as well.
      await request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).set('If-Match', '*').send({ description: 'any' }).expect(200);
      await request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).set('If-Match', 'W/"2"').send({ description: 'weak' }).expect(412);
      await request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).set('If-Match', 'W/"3"').send({ description: 'weak' }).expect(200);
    });

    it('When a delete names a stale If-Match (either form), then it is 412 and the policy stays; with the current one it is deleted', async () => {
      const id = await createPolicy('conditional delete');
      await request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).send({ description: 'r2' }).expect(200);
      const stale = await request(h.url).delete(`/api/fleet/agent_policies/${id}`).set(h.admin).set('If-Match', '"1"').expect(412);
      expect((stale.body as { message: string }).message).to.equal(`Agent policy ${id} is at revision 2, not 1`);
      await request(h.url).post('/api/fleet/agent_policies/delete').set(h.admin).set('If-Match', '"1"').send({ agentPolicyId: id }).expect(412);
      await request(h.url).get(`/api/fleet/agent_policies/${id}`).set(h.admin).expect(200);
      const deleted = await request(h.url).post('/api/fleet/agent_policies/delete').set(h.admin).set('If-Match', '"2"').send({ agentPolicyId: id }).expect(200);
      expect(deleted.body).to.deep.equal({ id, name: 'conditional delete' });
      await request(h.url).get(`/api/fleet/agent_policies/${id}`).set(h.admin).expect(404);
    });

    it('When two updates race on one revision, then both are applied one after the other (never both as the same revision)', async () => {
      const id = await createPolicy('racing updates');
      const answers = await Promise.all(
        ['a', 'b', 'c'].map((d) => request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).send({ description: d })),
      );
      expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200]);
      expect(answers.map((a) => (a.body as { item: { revision: number } }).item.revision).sort()).to.deep.equal([2, 3, 4]);
      const raced = await Promise.all(
        ['x', 'y'].map((d) => request(h.url).put(`/api/fleet/agent_policies/${id}`).set(h.admin).set('If-Match', '"4"').send({ description: d })),
      );
      expect(raced.map((a) => a.status).sort()).to.deep.equal([200, 412]);
    });

    it('When an enrollment key is created with the name of an active key of the same policy, then it is 409; once that one is revoked, the name is free', async () => {
      const id = await createPolicy('named keys');
      const first = await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: id, name: 'laptops' }).expect(200);
      const dup = await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: id, name: 'laptops' }).expect(409);
      expect(dup.body).to.deep.equal({ statusCode: 409, error: 'Conflict', message: `An enrollment key named laptops already exists for agent policy ${id}` });
      expectConforms(managementRoutes.createEnrollmentKey, dup);
      // Another name, or the same name on another policy, is fine.
      await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: id, name: 'laptop' }).expect(200);
      await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: 'fleet-default-policy', name: 'laptops' }).expect(200);
      await request(h.url).delete(`/api/fleet/enrollment_api_keys/${(first.body as { item: { id: string } }).item.id}`).set(h.admin).expect(200);
      await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: id, name: 'laptops' }).expect(200);
    });

    it('When a policy in use is deleted with force, then its agents are unenrolled (revoked), it is deleted, and the audit trail records it', async () => {
      const id = await createPolicy('forced delete');
      const agent = await enrollAgent(h);
      try {
        await request(h.url).post(`/api/fleet/agents/${agent.agentId}/reassign`).set(h.admin).send({ policy_id: id }).expect(200);
        await request(h.url).delete(`/api/fleet/agent_policies/${id}`).set(h.admin).expect(400);
        const forced = await request(h.url).delete(`/api/fleet/agent_policies/${id}`).query({ force: 'true' }).set(h.admin).expect(200);
        expect(forced.body).to.deep.equal({ id, name: 'forced delete' });
        expectConforms(managementRoutes.deleteAgentPolicy, forced);
        await request(h.url).get(`/api/fleet/agent_policies/${id}`).set(h.admin).expect(404);
        const stored = await h.server.store.agents.get(agent.agentId ?? '');
        expect(stored?._source.active).to.equal(false);
        type AuditItem = { request: { method: string }; target: Record<string, unknown>; action_type?: string };
        // The record is appended once the answer is sent.
        const record = await eventually(async () => {
          const audit = await request(h.url).get('/api/fleet/audit_log').set(h.admin).expect(200);
          return (audit.body as { items: AuditItem[] }).items.find((i) => i.request.method === 'DELETE' && i.target.policy_id === id);
        });
        expect(record).to.deep.include({ action_type: 'FORCE_UNENROLL' });
        expect(record?.target).to.include({ policy_id: id, agent_count: 1 });
      } finally {
        agent.close();
      }
    });
  });
});
