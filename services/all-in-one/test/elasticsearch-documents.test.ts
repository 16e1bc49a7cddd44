import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { AckEvent, CheckinRequest, CheckinResponse, EnrollResponse, FleetAgentClient } from '@fleet/agent-protocol';
import { policyRevisionDocId } from '@fleet/store';
import { AssertionError, expect } from 'chai';
import request from 'supertest';
import { HEALTHY_COMPONENTS as COMPONENTS, localMetadata, startHarness, type Harness } from './support/fleet-server-harness';
import {
  asModel,
  expectDocumentMatches,
  loadReferenceDocumentSchema,
  rawDocuments,
  referenceSchemaPath,
  refreshFleetIndices,
  validateDocument,
  type RawHit,
} from './support/reference-documents';

/**
 * Kibana's Fleet UI reads the `.fleet-*` documents this server writes to Elasticsearch. A realistic
 * flow runs through real HTTP; the raw documents are then read back with superuser searches (not
 * through our store) and checked against the reference's document schema (elastic/fleet-server
 * `schema.json`, read from outside the repo at test time; see support/reference-documents.ts), and
 * the fields Kibana derives agent status from are asserted one by one.
 */

const POLICY = 'fleet-default-policy';
const AGENT_VERSION = '9.1.0';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const INDEX = {
  agents: '.fleet-agents',
  policies: '.fleet-policies',
  actions: '.fleet-actions',
  results: '.fleet-actions-results',
  keys: '.fleet-enrollment-api-keys',
} as const;

type Doc = Record<string, unknown>;
type Documents = Record<keyof typeof INDEX, RawHit<Doc>[]>;


/** What elastic-agent sends as `local_metadata` once enrolled: its own id included. */
const agentLocalMetadata = (agentId: string, hostname: string) => {
  const base = localMetadata(hostname);
  return { ...base, elastic: { agent: { ...base.elastic.agent, id: agentId, log_level: 'info', complete: false } } };
};

const ackEvent = (agent: FleetAgentClient, actionId: string): AckEvent => ({
  type: 'ACTION_RESULT',
  subtype: 'ACKNOWLEDGED',
  agent_id: agent.agentId,
  action_id: actionId,
  message: 'ok',
  timestamp: new Date().toISOString(),
});

const byId = (hits: RawHit<Doc>[], id: string): RawHit<Doc> => {
  const hit = hits.find((x) => x._id === id);
  expect(hit, `document ${id} among ${JSON.stringify(hits.map((x) => x._id))}`).to.not.equal(undefined);
  return hit!;
};

describe('Elasticsearch documents against the reference schema.json (all-in-one, elasticsearch store, real HTTP)', function () {
  let h: Harness;
  const clients: FleetAgentClient[] = [];
  /** Enrolled with tags and `enrollment_id`; gets a SETTINGS action. */
  let tagged: FleetAgentClient;
  let taggedEnroll: EnrollResponse;
  /** Enrolled with its own `id` and a `replace_token`; unenrolled (revoked) at the end. */
  let replaceable: FleetAgentClient;
  let replaceableEnroll: EnrollResponse;
  const replaceableId = randomUUID();
  const enrollmentId = `enrollment-${randomUUID()}`;
  let settingsActionId = '';
  let settingsAckToken = '';
  let createdKey: { id: string; api_key_id: string; name: string } | undefined;
  let documents: Documents | undefined;

  before(async function () {
    // The schema lives outside the repository (../shared, present in CI). Without it there is
    // nothing to check against: skip, saying so.
    if (!existsSync(referenceSchemaPath())) {
      process.stderr.write(`reference document schema not found at ${referenceSchemaPath()}: Elasticsearch document conformance tests skipped\n`);
      this.skip();
    }
    loadReferenceDocumentSchema();
    h = await startHarness({}, undefined, 'elasticsearch');
  });
  after(async () => {
    for (const c of clients) c.close();
    await h?.stop();
  });

  const client = (): FleetAgentClient => {
    const c = h.agent({ agentVersion: AGENT_VERSION });
    clients.push(c);
    return c;
  };

  /** Status writes are batched: write them all out, then make everything searchable. */
  const settle = async (): Promise<void> => {
    const writes = h.server.gateway.statusWrites;
    for (let i = 0; i < 10 && (writes.size > 0 || i === 0); i++) await writes.flush();
    expect(writes.size, 'status writes left unflushed').to.equal(0);
    await refreshFleetIndices();
  };

  const readAll = async (): Promise<Documents> => {
    await settle();
    const entries = await Promise.all(Object.entries(INDEX).map(async ([key, index]) => [key, await rawDocuments<Doc>(index)] as const));
    return Object.fromEntries(entries) as Documents;
  };

  /** A checkin that must answer at once (the harness long-polls 3 s when nothing is pending). */
  const checkinNow = async (agent: FleetAgentClient, body: Omit<CheckinRequest, 'ack_token'>): Promise<CheckinResponse> => {
    const started = Date.now();
    const res = await agent.checkin(body);
    expect(Date.now() - started, 'checkin answered at once').to.be.lessThan(2500);
    // Status writes are batched, last write wins (as in the reference): the policy_revision_idx this
    // checkin reports would overwrite the ack that follows if flushed after it. The real agent's next
    // checkin reports the acknowledged revision and repairs that; here the report is written first.
    await h.server.gateway.statusWrites.flush();
    return res;
  };

  const checkinBody = (agentId: string, hostname: string, revision: number): Omit<CheckinRequest, 'ack_token'> => ({
    status: 'online',
    message: 'Running',
    poll_timeout: '35m0s',
    agent_policy_id: POLICY,
    policy_revision_idx: revision,
    components: COMPONENTS,
    local_metadata: agentLocalMetadata(agentId, hostname),
  });

  it('When a document breaks the reference schema, then the validator reports it with the ajv errors (the validator is live)', () => {
    const agent = {
      _id: randomUUID(),
      type: 'PERMANENT',
      active: true,
      enrolled_at: '2026-01-01T00:00:00Z',
      agent: { id: 'a', version: '9.1.0' },
      tags: ['a'],
      action_seq_no: [-1],
    };
    expectDocumentMatches('agent', agent, 'a well-formed agent');
    expect(() => expectDocumentMatches('agent', { ...agent, active: 'true' }, 'agent')).to.throw(AssertionError, /\/active: must be boolean/);
    expect(validateDocument('agent', { ...agent, last_checkin: 'yesterday' }).errors.join('\n')).to.match(/\/last_checkin: must match format "date-time"/);
    expect(validateDocument('agent', { ...agent, action_seq_no: ['12'] }).valid).to.equal(false);
    expect(validateDocument('agent', { ...agent, policy_revision_idx: null }).valid, 'null is not an integer').to.equal(false);
    expect(validateDocument('agent', { ...agent, agent: { id: 'a' } }).errors.join('\n')).to.match(/\/agent: must have required property 'version'/);
    const { _id: _dropped, ...withoutId } = agent;
    expect(validateDocument('agent', withoutId).errors.join('\n')).to.match(/must have required property '_id'/);
    const policy = { policy_id: POLICY, revision_idx: 1, default_fleet_server: false, data: { id: POLICY, revision: 1, outputs: {} } };
    expectDocumentMatches('policy', policy, 'a well-formed policy');
    expect(validateDocument('policy', { ...policy, default_fleet_server: undefined }).errors.join('\n')).to.match(/required property 'default_fleet_server'/);
    expect(validateDocument('policy', { ...policy, data: { id: POLICY, revision: '1', outputs: {} } }).errors.join('\n')).to.match(/\/data\/revision: must be integer/);
    const key = { active: true, api_key_id: 'k', name: 'n', policy_id: POLICY, created_at: '2026-01-01T00:00:00.000Z' };
    expect(validateDocument('enrollment_api_key', key).errors.join('\n')).to.match(/required property 'api_key'/);
    expect(validateDocument('enrollment_api_key', key, { exemptRequired: ['api_key'] }).valid).to.equal(true);
    expect(validateDocument('enrollment_api_key', { ...key, active: 1 }, { exemptRequired: ['api_key'] }).valid).to.equal(false);
  });

  it('When the schema names required fields it has no property for, then exactly the known generator-ignored names are dropped', () => {
    // The reference's code generator emits no field for these names, so neither it nor Kibana writes
    // them. If schema.json changes here, review support/reference-documents.ts.
    expect(loadReferenceDocumentSchema().droppedRequired).to.deep.equal({
      '/definitions/action': ['id'],
      '/definitions/action-result': ['id', 'agent', 'action'],
      '/definitions/artifact': ['compressionAlgorithm', 'encodedSha256', 'encodedSize', 'decodedSha256', 'decodedSize'],
      '/definitions/policy_output': ['api_key_history'],
      '/definitions/agent': ['status'],
      '/definitions/checkin': ['enrolled_at', 'updated_at'],
    });
  });

  it('When two agents enroll (one with tags and enrollment_id, one with id and replace_token), then their raw .fleet-agents documents match `agent`', async () => {
    tagged = client();
    taggedEnroll = await tagged.enroll(h.enrollmentToken, {
      type: 'PERMANENT',
      enrollment_id: enrollmentId,
      metadata: { local: localMetadata('host-tagged'), user_provided: {}, tags: ['web', 'db', 'web', 'alpha'] },
    });
    replaceable = client();
    replaceableEnroll = await replaceable.enroll(h.enrollmentToken, {
      type: 'PERMANENT',
      id: replaceableId,
      replace_token: 'replace-me-later-0123456789',
      metadata: { local: localMetadata('host-replaceable'), user_provided: {} },
    });
    expect(replaceable.agentId).to.equal(replaceableId);

    await refreshFleetIndices();
    const agents = await rawDocuments<Doc>(INDEX.agents);
    expect(agents.map((x) => x._id).sort()).to.deep.equal([tagged.agentId!, replaceableId].sort());
    for (const hit of agents) {
      expectDocumentMatches('agent', asModel(hit), `.fleet-agents/${hit._id} (just enrolled)`);
      const doc = hit._source as { active: unknown; enrolled_at: string; local_metadata: { elastic: { agent: { id: unknown } } }; action_seq_no: unknown };
      expect(doc.active).to.equal(true);
      expect(doc.enrolled_at).to.match(ISO_SECONDS);
      expect(doc.local_metadata.elastic.agent.id, 'local_metadata.elastic.agent.id is the agent id').to.equal(hit._id);
      expect(doc.action_seq_no).to.deep.equal([-1]);
      expect(doc).to.not.have.property('last_checkin');
    }
    expect(tagged.agentId, 'a server-generated agent id is a UUIDv4').to.match(UUID);
    expect(byId(agents, tagged.agentId!)._source['enrollment_id']).to.equal(enrollmentId);
  });

  it('When they check in, ack policies and an action, the policy changes, a key is created and one agent is revoked, then every step answers as the agent expects', async () => {
    // First checkins: each is behind (revision 0), so POLICY_CHANGE for revision 1 comes at once.
    for (const [agent, host] of [
      [tagged, 'host-tagged'],
      [replaceable, 'host-replaceable'],
    ] as const) {
      const first = await checkinNow(agent, checkinBody(agent.agentId!, host, 0));
      expect(first.actions?.map((a) => a.id)).to.deep.equal([`policy:${POLICY}:1`]);
      const ack = await agent.ack([ackEvent(agent, `policy:${POLICY}:1`)]);
      expect(ack.status).to.equal(200);
    }

    // A SETTINGS action for the tagged agent, delivered by a checkin at revision 1 (up to date).
    const created = await request(h.url)
      .post(`/api/fleet/agents/${tagged.agentId}/actions`)
      .set(h.admin)
      .send({ action: { type: 'SETTINGS', data: { log_level: 'debug' } } })
      .expect(200);
    settingsActionId = created.body.item.id as string;
    const delivered = await checkinNow(tagged, checkinBody(tagged.agentId!, 'host-tagged', 1));
    expect(delivered.actions?.map((a) => a.id)).to.deep.equal([settingsActionId]);
    expect(delivered.ack_token).to.be.a('string').and.not.equal('');
    settingsAckToken = delivered.ack_token!;
    expect((await tagged.ack([ackEvent(tagged, settingsActionId)])).status).to.equal(200);

    // A policy update makes revision 2; each agent's next checkin (the tagged one carrying its
    // ack_token) gets it at once, and acks it.
    await request(h.url).put(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).send({ description: 'x' }).expect(200);
    for (const [agent, host] of [
      [tagged, 'host-tagged'],
      [replaceable, 'host-replaceable'],
    ] as const) {
      const res = await checkinNow(agent, checkinBody(agent.agentId!, host, 1));
      expect(res.actions?.map((a) => a.id)).to.deep.equal([`policy:${POLICY}:2`]);
      expect((await agent.ack([ackEvent(agent, `policy:${POLICY}:2`)])).status).to.equal(200);
    }
    expect(tagged.ackToken, 'the agent keeps the last non-empty ack_token').to.equal(settingsAckToken);

    const key = await request(h.url).post('/api/fleet/enrollment_api_keys').set(h.admin).send({ policy_id: POLICY }).expect(200);
    createdKey = key.body.item as { id: string; api_key_id: string; name: string };
    expect(key.body.item.api_key, 'the token is shown once, at creation').to.be.a('string');

    await request(h.url).post(`/api/fleet/agents/${replaceableId}/unenroll`).set(h.admin).send({ revoke: true }).expect(200);
    documents = await readAll();
  });

  const docs = (): Documents => {
    if (!documents) expect.fail('the flow did not complete; no documents were read');
    return documents;
  };

  it('Then the .fleet-agents documents match `agent` and carry what Kibana derives status from and shows', () => {
    const { agents, actions } = docs();
    expect(agents.map((x) => x._id).sort()).to.deep.equal([tagged.agentId!, replaceableId].sort());
    for (const hit of agents) expectDocumentMatches('agent', asModel(hit), `.fleet-agents/${hit._id}`);

    for (const [agent, enroll] of [
      [tagged, taggedEnroll],
      [replaceable, replaceableEnroll],
    ] as const) {
      const hit = byId(agents, agent.agentId!);
      const doc = hit._source;
      const label = `.fleet-agents/${hit._id}`;
      expect(doc['active'], `${label} active`).to.be.a('boolean');
      expect(doc['type'], `${label} type`).to.equal('PERMANENT');
      expect(doc['policy_id'], `${label} policy_id`).to.equal(POLICY);
      expect(doc['enrolled_at'], `${label} enrolled_at`).to.be.a('string').and.match(ISO);
      expect(doc['enrolled_at'], `${label} enrolled_at as enroll answered`).to.equal(enroll.item.enrolled_at);
      expect(doc['last_checkin'], `${label} last_checkin (second precision)`).to.be.a('string').and.match(ISO_SECONDS);
      expect(Date.parse(doc['last_checkin'] as string)).to.be.at.least(Date.parse(doc['enrolled_at'] as string));
      expect(doc['last_checkin_status'], `${label} last_checkin_status`).to.equal('online');
      expect(doc['last_checkin_message'], `${label} last_checkin_message`).to.equal('Running');
      expect(doc['policy_revision_idx'], `${label} policy_revision_idx after the ack of revision 2`).to.equal(2);
      expect(doc['agent_policy_id'], `${label} agent_policy_id`).to.equal(POLICY);
      expect(doc['agent'], `${label} agent`).to.deep.include({ id: hit._id, version: AGENT_VERSION });
      const local = doc['local_metadata'] as { elastic: { agent: { id: unknown; version: unknown } }; host: { hostname: unknown } };
      expect(local.elastic.agent.id, `${label} local_metadata.elastic.agent.id`).to.equal(hit._id);
      expect(local.elastic.agent.version).to.equal(AGENT_VERSION);
      expect(local.host.hostname).to.be.a('string');
      const tags = doc['tags'] as string[];
      expect(tags, `${label} tags`).to.be.an('array');
      expect(tags, `${label} tags sorted and de-duplicated`).to.deep.equal([...new Set(tags)].sort());
      expect(doc['access_api_key_id'], `${label} access_api_key_id`).to.be.a('string').and.equal(enroll.item.access_api_key_id);
      const seq = doc['action_seq_no'];
      expect(seq, `${label} action_seq_no`).to.be.an('array').with.lengthOf(1);
      expect((seq as unknown[])[0]).to.be.a('number');
      expect(doc['components'], `${label} components`).to.deep.equal(COMPONENTS);
      for (const [i, component] of (doc['components'] as unknown[]).entries()) {
        expectDocumentMatches('components_items', component, `${label} components[${i}]`);
      }
      expect(doc['unhealthy_reason'], `${label} unhealthy_reason`).to.deep.equal([]);
      if ('replace_token' in doc) expect(doc['replace_token'], `${label} replace_token`).to.be.a('string').and.match(/^\$pbkdf2-sha512\$/);
    }

    const t = byId(agents, tagged.agentId!)._source;
    expect(t['active']).to.equal(true);
    expect(t['tags']).to.deep.equal(['alpha', 'db', 'web']);
    expect(t['enrollment_id']).to.equal(enrollmentId);
    expect(t).to.not.have.property('replace_token');
    expect(t).to.not.have.property('unenrolled_at');
    const settings = actions.find((a) => a._source['action_id'] === settingsActionId);
    expect(settings?._seq_no, 'the SETTINGS action document has a _seq_no').to.be.a('number');
    expect(t['action_seq_no'], 'action_seq_no is the _seq_no of the last delivered action (its ack_token)').to.deep.equal([settings!._seq_no]);

    const r = byId(agents, replaceableId)._source;
    expect(r['active'], 'the revoked agent is inactive').to.equal(false);
    expect(r['unenrolled_at'], 'unenrolled_at').to.be.a('string').and.match(ISO);
    expect(r['replace_token'], 'replace_token is stored hashed').to.be.a('string').and.match(/^\$pbkdf2-sha512\$/);
    expect(r['tags']).to.deep.equal([]);
    expect(r['action_seq_no']).to.deep.equal([-1]);
  });

  it('Then the .fleet-policies documents match `policy`, one per revision, with Kibana’s ids', () => {
    const { policies } = docs();
    expect(policies.map((p) => p._source['revision_idx']).sort()).to.deep.equal([1, 2]);
    for (const hit of policies) {
      const label = `.fleet-policies/${hit._id}`;
      expectDocumentMatches('policy', asModel(hit), label);
      const doc = hit._source;
      expect(doc['policy_id'], `${label} policy_id`).to.equal(POLICY);
      expect(doc['revision_idx'], `${label} revision_idx`).to.be.a('number');
      expect(doc['coordinator_idx'], `${label} coordinator_idx`).to.equal(0);
      expect(doc['@timestamp'], `${label} @timestamp`).to.be.a('string').and.match(ISO);
      expect(doc['default_fleet_server'], `${label} default_fleet_server`).to.equal(false);
      expect(hit._id, `${label} _id is uuidv5("<policy_id>:<revision_idx>")`).to.equal(policyRevisionDocId(POLICY, doc['revision_idx'] as number));
      const data = doc['data'] as Doc;
      expect(data['id'], `${label} data.id`).to.equal(POLICY);
      expect(data['revision'], `${label} data.revision`).to.equal(doc['revision_idx']);
      expect(data['outputs'], `${label} data.outputs`).to.be.an('object').that.has.property('default');
      expect(data['inputs'], `${label} data.inputs`).to.be.an('array');
    }
  });

  it('Then the .fleet-actions documents match `action` and carry what the reference needs to deliver them', () => {
    const { actions } = docs();
    expect(actions.map((a) => a._source['action_id'])).to.deep.equal([settingsActionId]);
    for (const hit of actions) {
      const label = `.fleet-actions/${hit._id}`;
      expectDocumentMatches('action', asModel(hit), label);
      const doc = hit._source;
      expect(hit._id, `${label} _id is the ack_token the agent got`).to.equal(settingsAckToken);
      expect(doc['action_id'], `${label} action_id`).to.be.a('string').and.match(UUID);
      expect(doc['agents'], `${label} agents`).to.deep.equal([tagged.agentId]);
      expect(doc['type'], `${label} type`).to.equal('SETTINGS');
      expect(doc['data'], `${label} data`).to.deep.equal({ log_level: 'debug' });
      expect(doc['@timestamp'], `${label} @timestamp`).to.be.a('string').and.match(ISO);
      expect(doc['expiration'], `${label} expiration`).to.be.a('string').and.match(ISO);
      expect(Date.parse(doc['expiration'] as string), 'expiration is after @timestamp').to.be.greaterThan(Date.parse(doc['@timestamp'] as string));
    }
  });

  it('Then the .fleet-actions-results documents match `action-result`, with ids <action_id>:<agent_id>', () => {
    const { results } = docs();
    const ids = results.map((r) => r._id);
    expect(ids, 'the SETTINGS ack is recorded').to.include(`${settingsActionId}:${tagged.agentId}`);
    for (const hit of results) {
      const label = `.fleet-actions-results/${hit._id}`;
      expectDocumentMatches('action-result', asModel(hit), label);
      const doc = hit._source;
      expect(doc['action_id'], `${label} action_id`).to.be.a('string');
      expect(doc['agent_id'], `${label} agent_id`).to.be.a('string');
      expect(hit._id, `${label} _id`).to.equal(`${doc['action_id'] as string}:${doc['agent_id'] as string}`);
      expect(doc['@timestamp'], `${label} @timestamp`).to.be.a('string').and.match(ISO);
    }
    const settings = byId(results, `${settingsActionId}:${tagged.agentId}`)._source;
    expect(settings).to.include({ action_id: settingsActionId, agent_id: tagged.agentId });
  });

  it('Then the .fleet-enrollment-api-keys documents match `enrollment_api_key` except the plaintext `api_key`, which is never stored (a deviation in docs/compatibility.md)', () => {
    const { keys } = docs();
    expect(keys, 'the first-start key and the created one').to.have.lengthOf(2);
    expect(keys.map((k) => k._id)).to.include(createdKey?.id);
    for (const hit of keys) {
      const label = `.fleet-enrollment-api-keys/${hit._id}`;
      // The one exemption: docs/compatibility.md "Deviations" — enrollment tokens are stored hashed, never in `api_key`.
      expectDocumentMatches('enrollment_api_key', asModel(hit), label, { exemptRequired: ['api_key'] });
      const doc = hit._source;
      expect(doc, `${label} has no plaintext token`).to.not.have.property('api_key');
      expect(doc['active'], `${label} active`).to.equal(true);
      expect(doc['api_key_id'], `${label} api_key_id`).to.be.a('string').and.not.equal('');
      expect(doc['name'], `${label} name`).to.be.a('string').and.not.equal('');
      expect(doc['policy_id'], `${label} policy_id`).to.equal(POLICY);
      expect(doc['created_at'], `${label} created_at`).to.be.a('string').and.match(ISO);
    }
    const created = byId(keys, createdKey!.id)._source;
    expect(created).to.include({ api_key_id: createdKey!.api_key_id, name: createdKey!.name });
  });
});
