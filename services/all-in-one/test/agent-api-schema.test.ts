import { existsSync } from 'node:fs';
import {
  API_VERSION,
  type AckRequest,
  type AgentAction,
  type CheckinRequest,
  type CheckinResponse,
  type EnrollRequest,
  type FleetAgentClient,
} from '@fleet/agent-protocol';
import { AssertionError, expect } from 'chai';
import request from 'supertest';
import { HEALTHY_COMPONENTS as COMPONENTS, localMetadata, startHarness, type Harness } from './support/fleet-server-harness';
import { expectMatches, hasSchema, loadReferenceOpenApi, referenceOpenApiPath, validatorFor } from './support/reference-openapi';

/**
 * Checks the agent API bodies we send and serve against the JSON schemas of the reference
 * implementation's OpenAPI document (`components.schemas` of elastic/fleet-server `openapi.yml`,
 * read from outside the repo at test time; see support/reference-openapi.ts).
 */


/** Validates each action of a checkin response against `action`, when the document defines it. */
function expectActionsMatch(res: CheckinResponse): void {
  if (!hasSchema('action')) return;
  for (const action of res.actions ?? []) expectMatches('action', action, `action ${action.id} (${action.type})`);
}

describe('Agent API bodies against the reference OpenAPI schemas (all-in-one, real HTTP)', function () {
  let h: Harness;
  let agent: FleetAgentClient;
  let policyId: string;
  let settingsAction: AgentAction;
  const clients: FleetAgentClient[] = [];

  before(async function () {
    // The reference document lives outside the repository (../shared, present in CI). Without it
    // there is nothing to check against: skip, saying so.
    if (!existsSync(referenceOpenApiPath())) {
      process.stderr.write(`reference OpenAPI document not found at ${referenceOpenApiPath()}: schema conformance tests skipped\n`);
      this.skip();
    }
    loadReferenceOpenApi();
    h = await startHarness();
  });
  after(async () => {
    for (const c of clients) c.close();
    await h?.stop();
  });

  const client = (opts: Parameters<Harness['agent']>[0] = {}): FleetAgentClient => {
    const c = h.agent(opts);
    clients.push(c);
    return c;
  };
  const agentHeaders = () => ({
    'User-Agent': 'Elastic Agent v9.1.0',
    'Elastic-Api-Version': API_VERSION,
    Authorization: `ApiKey ${agent.accessApiKey}`,
  });

  it('When a body breaks a reference schema, then expectMatches fails with the ajv errors (the validator is live)', () => {
    expect(() => expectMatches('checkinResponse', { ack_token: 5 })).to.throw(AssertionError, /ack_token must be string/);
    expect(() => expectMatches('checkinResponse', { ack_token: 5 })).to.throw(AssertionError, /must have required property 'action'/);
    const action = { id: 'a1', agent_id: 'x', created_at: '2026-01-01T00:00:00Z', type: 'SETTINGS', input_type: '' };
    expect(() => expectMatches('action', { ...action, data: { log_level: 'verbose' } })).to.throw(AssertionError, /log_level/);
    expect(() => expectMatches('action', { ...action, type: 'POLICY_CHANGE', data: {} })).to.throw(AssertionError, /'policy'/);
    expect(() => expectMatches('ackRequest', { events: [{ action_id: 'a1', timestamp: 'yesterday' }] })).to.throw(AssertionError);
    expect(validatorFor('checkinRequest')({ status: 'online', message: 'ok', poll_timeout: '35 minutes' }).valid).to.equal(false);
    expectMatches('action', { ...action, data: { log_level: 'debug' } });
  });

  it('When an agent enrolls, then the request it sends and the enroll response match enrollRequest and enrollResponse', async () => {
    // As elastic-agent sends it: `user_provided` is always present (an empty map).
    const body: EnrollRequest = { type: 'PERMANENT', metadata: { local: localMetadata('schema-host'), user_provided: {}, tags: ['schema'] } };
    expectMatches('enrollRequest', body);
    agent = client();
    const res = await agent.enroll(h.enrollmentToken, body);
    expectMatches('enrollResponse', res);
    expect(res.action).to.equal('created');
    expect(res.item.id).to.equal(agent.agentId);
    policyId = res.item.policy_id;
  });

  it('When it checks in first with poll_timeout, components and local_metadata, then the request and the POLICY_CHANGE response match', async () => {
    const body: CheckinRequest = {
      status: 'online',
      message: 'Running',
      ack_token: agent.ackToken,
      poll_timeout: '35m0s',
      agent_policy_id: policyId,
      policy_revision_idx: 0,
      components: COMPONENTS,
      local_metadata: localMetadata('schema-host'),
    };
    expect(body).to.not.have.property('upgrade_details');
    expectMatches('checkinRequest', body);
    const res = await agent.checkin(body);
    expectMatches('checkinResponse', res);
    expect(res.action).to.equal('checkin');
    const change = res.actions?.find((a) => a.type === 'POLICY_CHANGE');
    expect(change, 'POLICY_CHANGE in the first checkin').to.not.equal(undefined);
    expectActionsMatch(res);
    expectMatches('actionPolicyChange', change?.data, 'POLICY_CHANGE data');
  });

  it('When an action is created through the management API, then the next checkin response and its SETTINGS action match', async () => {
    const created = await request(h.url)
      .post(`/api/fleet/agents/${agent.agentId}/actions`)
      .set(h.admin)
      .send({ action: { type: 'SETTINGS', data: { log_level: 'debug' } } })
      .expect(200);
    const actionId = (created.body as { item: { id: string } }).item.id;

    const body: CheckinRequest = {
      status: 'online',
      message: 'Running',
      ack_token: agent.ackToken,
      poll_timeout: '35m0s',
      agent_policy_id: policyId,
      policy_revision_idx: 1,
      components: COMPONENTS,
      local_metadata: localMetadata('schema-host'),
    };
    expectMatches('checkinRequest', body);
    const res = await agent.checkin(body);
    expectMatches('checkinResponse', res);
    expectActionsMatch(res);
    const action = res.actions?.find((a) => a.id === actionId);
    expect(action, `action ${actionId} in the checkin response`).to.not.equal(undefined);
    settingsAction = action!;
    expect(settingsAction).to.include({ type: 'SETTINGS', agent_id: agent.agentId });
    expectMatches('actionSettings', settingsAction.data, 'SETTINGS data');
  });

  it('When the agent acks that action, then the ack request and the ack response match ackRequest and ackResponse', async () => {
    const req: AckRequest = {
      events: [
        {
          type: 'ACTION_RESULT',
          subtype: 'ACKNOWLEDGED',
          agent_id: agent.agentId!,
          action_id: settingsAction.id,
          message: `Action '${settingsAction.id}' of type 'SETTINGS' acknowledged.`,
          timestamp: new Date().toISOString(),
        },
      ],
    };
    expectMatches('ackRequest', req);
    const res = await agent.ack(req.events);
    expect(res.status).to.equal(200);
    expectMatches('ackResponse', res.body);
    expect(res.body.items).to.deep.equal([{ status: 200, message: 'OK' }]);
  });

  it('When /api/status is requested without credentials, then the body matches statusResponse and has no version', async () => {
    const res = await client().status();
    expect(res.status).to.equal(200);
    expectMatches('statusResponse', res.body);
    expect(res.body).to.not.have.property('version');
  });

  it("When /api/status is requested with the agent's ApiKey, then the body matches statusResponse and includes the version", async () => {
    const res = await agent.status();
    expect(res.status).to.equal(200);
    expectMatches('statusResponse', res.body);
    expect(res.body.version?.number).to.be.a('string');
  });

  it('When a checkin has no Authorization header, then the 401 body matches error', async () => {
    const res = await agent.call<unknown>('POST', `/api/fleet/agents/${agent.agentId}/checkin`, { status: 'online', message: 'Running' }, undefined, {}, true);
    expect(res.status).to.equal(401);
    expectMatches('error', res.body);
    expect(res.body).to.include({ statusCode: 401 });
  });

  it('When a checkin comes with a User-Agent that is not an Elastic Agent, then the 400 body matches error', async () => {
    const curl = client({ headers: { 'User-Agent': 'curl/8.5.0' } });
    const res = await curl.call<unknown>(
      'POST',
      `/api/fleet/agents/${agent.agentId}/checkin`,
      { status: 'online', message: 'Running' },
      `ApiKey ${agent.accessApiKey}`,
      { timeoutMs: 10_000 },
      true,
    );
    expect(res.status).to.equal(400);
    expectMatches('error', res.body);
    expect(res.body).to.include({ statusCode: 400 });
  });

  it('When a checkin body is malformed JSON, then the 400 body matches error', async () => {
    const res = await request(h.url)
      .post(`/api/fleet/agents/${agent.agentId}/checkin`)
      .set(agentHeaders())
      .set('Content-Type', 'application/json')
      .send('{"status": "online", "message": ')
      .timeout(10_000);
    expect(res.status).to.equal(400);
    expectMatches('error', res.body);
    expect(res.body).to.include({ statusCode: 400 });
  });
});
