import type { AgentAction, CheckinResponse, FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import request from 'supertest';
import { exchange, loadAgentTraffic, type RecordedTraffic } from './support/agent-traffic';
import { eventually, localMetadata, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

/*
 * What a stock Elastic Agent sends, read as the reference reads it (Go's encoding/json), and the
 * agent-facing guarantees a stock agent relies on: an enrollment never replays old actions, and an
 * upgrade the agent reports as failed is not recorded as done.
 */

const POLICY = 'fleet-default-policy';
const traffic: RecordedTraffic | undefined = loadAgentTraffic('stock agent compatibility');

type Json = Record<string, unknown>;

const ackEvent = (agentId: string, actionId: string, extra: Json = {}) => ({
  type: 'ACTION_RESULT',
  subtype: 'ACKNOWLEDGED',
  timestamp: new Date().toISOString(),
  action_id: actionId,
  agent_id: agentId,
  message: `Action "${actionId}" acknowledged.`,
  ...extra,
});

/** The recorded body of exchange `seq` with the recorded agent's ids replaced. */
function recordedBody(seq: number, replace: Record<string, string> = {}): Json {
  if (!traffic) throw new Error('no recording');
  let text = JSON.stringify(exchange(traffic, seq).body);
  for (const [from, to] of Object.entries(replace)) text = text.split(from).join(to);
  return JSON.parse(text) as Json;
}

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) describe(`Stock agent compatibility (${backend} store)`, function () {
  let h: Harness;
  const clients: FleetAgentClient[] = [];

  before(async () => {
    // The recorded agent downloaded from a local mirror: allow it as an upgrade source.
    h = await startHarness({ actionUris: { upgradeSource: ['http://127.0.0.1:18999/downloads/'] } }, undefined, backend);
  });
  after(async () => {
    for (const c of clients) c.close();
    await h.stop();
  });

  const client = (agentVersion = '9.0.1') => {
    const c = h.agent({ agentVersion });
    clients.push(c);
    return c;
  };
  const getAgent = async (id: string) => (await request(h.url).get(`/api/fleet/agents/${id}`).set(h.admin).expect(200)).body.item as Json;
  const enrollStock = async (c: FleetAgentClient, body: Json) => {
    const res = await c.call<{ item: { id: string; access_api_key: string; tags: string[] } }>(
      'POST',
      '/api/fleet/agents/enroll',
      body,
      `ApiKey ${h.enrollmentToken}`,
      {},
      true,
    );
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    c.agentId = res.body.item.id;
    c.accessApiKey = res.body.item.access_api_key;
    return res.body.item;
  };
  const enrollClean = (c: FleetAgentClient, extra: Json = {}) =>
    enrollStock(c, { type: 'PERMANENT', metadata: { local: localMetadata(), user_provided: {}, tags: [] }, ...extra });
  /** First checkin: the policy, acknowledged. */
  const settle = async (c: FleetAgentClient) => {
    const res = await c.checkin({ status: 'online', message: 'Running' });
    const change = res.actions?.find((a) => a.type === 'POLICY_CHANGE');
    expect(change, 'first checkin carries the policy').to.exist;
    await c.ack([ackEvent(c.agentId!, change!.id)]);
  };
  const createAction = async (agentId: string, type: string, data: Json = {}) =>
    (await request(h.url).post(`/api/fleet/agents/${agentId}/actions`).set(h.admin).send({ action: { type, data } }).expect(200)).body.item
      .id as string;
  const ids = (res: CheckinResponse) => (res.actions ?? []).map((a: AgentAction) => a.id);

  it('When the server starts on an empty store, then the enroll command it prints is one a stock agent accepts over plain HTTP (--insecure)', () => {
    const line = h.logs.map((l) => JSON.parse(l) as Json).find((l) => typeof l.command === 'string');
    expect(line, 'the enroll command is logged').to.exist;
    expect(line!.command).to.match(/^elastic-agent enroll --url=http:\/\/\S+ --enrollment-token=\$\(cat \S+enrollment-token\) --insecure$/);
    expect(JSON.stringify(line)).to.not.contain(h.enrollmentToken);
  });

  describe('requests read as the reference reads them', function () {
    it('When a stock agent enrolls with its recorded body (empty id and replace_token, null tags), then 200 with a generated id', async function () {
      if (!traffic) this.skip();
      const body = recordedBody(1);
      expect(body).to.include({ id: '', replace_token: '' });
      expect((body.metadata as Json).tags).to.equal(null);
      const c = client();
      const item = await enrollStock(c, body);
      expect(item.id).to.match(/^[0-9a-f-]{36}$/);
      expect(item.tags).to.deep.equal([]);
      const doc = await getAgent(item.id);
      expect(doc).to.include({ active: true, policy_id: POLICY });
      expect(doc).to.not.have.property('replace_token');
      // The agent works: its first checkin gets the policy.
      await settle(c);
    });

    it('When enroll fields are null or empty, then they are absent, and empty tags are dropped', async () => {
      const c = client();
      const item = await enrollClean(c, {
        enrollment_id: '',
        shared_id: null,
        metadata: { local: localMetadata(), user_provided: null, tags: ['', 'web', 'web'] },
      });
      expect(item.tags).to.deep.equal(['web']);
      expect(await getAgent(item.id)).to.not.have.property('enrollment_id');
    });

    it('When a checkin sends nulls, no message and status "DEGRADED" (as a degraded agent does), then it is accepted and the agent shows degraded', async () => {
      const c = client();
      await enrollClean(c);
      await settle(c);
      const res = await c.call<CheckinResponse>(
        'POST',
        `/api/fleet/agents/${c.agentId}/checkin`,
        {
          status: 'DEGRADED',
          ack_token: null,
          local_metadata: null,
          components: null,
          upgrade_details: null,
          poll_timeout: null,
          agent_policy_id: null,
          policy_revision_idx: null,
          upgrade: null,
          an_unknown_field: { ignored: true },
        },
        `ApiKey ${c.accessApiKey}`,
        {},
        true,
      );
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const doc = await eventually(async () => {
        const d = await getAgent(c.agentId!);
        return d.last_checkin_status === 'DEGRADED' ? d : undefined;
      });
      expect(doc.status).to.equal('degraded');
      expect(doc.last_checkin_message).to.equal('');
      expect((doc.local_metadata as Json).host, 'a null local_metadata keeps the stored one').to.deep.equal(localMetadata().host);
    });

    it('When a checkin has an empty or unknown status, then 400 as before (the reference rejects an empty one)', async () => {
      const c = client();
      await enrollClean(c);
      for (const status of ['', 'sleeping', null]) {
        const res = await c.call<Json>('POST', `/api/fleet/agents/${c.agentId}/checkin`, { status, message: '' }, `ApiKey ${c.accessApiKey}`, {}, true);
        expect(res.status, String(status)).to.equal(400);
        expect(res.body.error).to.equal('BadRequest');
      }
    });

    it('When acks carry null fields, then they are read as absent and the policy ack takes effect', async () => {
      const c = client();
      await enrollClean(c);
      const res = await c.checkin({ status: 'online', message: 'Running' });
      const change = res.actions!.find((a) => a.type === 'POLICY_CHANGE')!;
      const ack = await c.ack([ackEvent(c.agentId!, change.id, { error: null, data: null, payload: null, message: null })]);
      expect(ack.status).to.equal(200);
      expect(ack.body.items).to.deep.equal([{ status: 200, message: 'OK' }]);
      expect((await getAgent(c.agentId!)).policy_revision_idx).to.equal(1);
      // No timestamp (Go reads the zero time): the result is stored at the time of receipt.
      const settings = await createAction(c.agentId!, 'SETTINGS', { log_level: 'info' });
      await c.checkin({ status: 'online', message: 'Running' });
      const before = Date.now();
      const untimed = await c.ack([{ action_id: settings, agent_id: c.agentId!, timestamp: null } as never]);
      expect(untimed.status).to.equal(200);
      const results = await eventually(async () => {
        const r = await h.server.store.actionResults.listByActionId(settings);
        return r.length ? r : undefined;
      });
      expect(Date.parse(results[0]!._source['@timestamp'])).to.be.at.least(before - 1000);
    });

    it('When audit/unenroll has no timestamp, then it is recorded at the time of receipt; an unknown reason stays 400', async () => {
      const c = client();
      await enrollClean(c);
      const auth = `ApiKey ${c.accessApiKey}`;
      const bad = await c.call<Json>('POST', `/api/fleet/agents/${c.agentId}/audit/unenroll`, { reason: 'bored', timestamp: null }, auth, {}, true);
      expect(bad.status).to.equal(400);
      const before = Date.now();
      const res = await c.call<Json>('POST', `/api/fleet/agents/${c.agentId}/audit/unenroll`, { reason: 'uninstall', timestamp: null }, auth, {}, true);
      expect(res.status).to.equal(200);
      const doc = await getAgent(c.agentId!);
      expect(doc.audit_unenrolled_reason).to.equal('uninstall');
      expect(Date.parse(doc.audit_unenrolled_time as string)).to.be.at.least(before - 1000);
    });
  });

  describe('an enrollment never replays old actions', function () {
    it('When an unenrolled id enrolls again, then it gets only its policy and new actions, even with its old ack token, and acking the old UNENROLL changes nothing', async () => {
      const id = `reenroll-${backend}`;
      const first = client();
      await enrollClean(first, { id, replace_token: 'f36377ef62defc72128157cbff9199c9' });
      await settle(first);
      const settings = await createAction(id, 'SETTINGS', { log_level: 'debug' });
      const gotSettings = await first.checkin({ status: 'online', message: 'Running' });
      expect(ids(gotSettings)).to.deep.equal([settings]);
      const oldToken = gotSettings.ack_token;
      await first.ack([ackEvent(id, settings)]);
      // Pending, never delivered to the first enrollment.
      const diagnostics = await createAction(id, 'REQUEST_DIAGNOSTICS');
      await request(h.url).post(`/api/fleet/agents/${id}/unenroll`).set(h.admin).send({}).expect(200);
      const gotUnenroll = await first.checkin({ status: 'online', message: 'Running' });
      const unenroll = gotUnenroll.actions!.find((a) => a.type === 'UNENROLL')!;
      expect(unenroll, 'UNENROLL delivered to the first enrollment').to.exist;
      await first.ack([ackEvent(id, unenroll.id)]);
      await eventually(async () => (await getAgent(id)).active === false);

      const second = client();
      await enrollClean(second, { id, replace_token: 'f36377ef62defc72128157cbff9199c9' });
      expect(await getAgent(id)).to.include({ active: true });
      // As the recorded agent did: the first checkin after enrolling again carries the old token.
      second.ackToken = oldToken;
      const firstCheckin = await second.checkin({ status: 'starting', message: 'Starting' });
      expect(firstCheckin.actions!.map((a) => a.type)).to.deep.equal(['POLICY_CHANGE']);
      expect(ids(firstCheckin)).to.not.include.members([settings, diagnostics, unenroll.id]);
      await second.ack([ackEvent(id, firstCheckin.actions![0]!.id)]);
      const quiet = await second.checkin({ status: 'online', message: 'Running' });
      expect(quiet.actions ?? [], 'nothing old on the long poll').to.deep.equal([]);

      // Acknowledging the old UNENROLL (as the recorded agent did after the replay) unenrolls nothing.
      const stale = await second.ack([ackEvent(id, unenroll.id), ackEvent(id, diagnostics)]);
      expect(stale.status).to.equal(200);
      expect(await getAgent(id)).to.include({ active: true });
      expect((await second.status()).status).to.equal(200);

      // A new action is delivered.
      const fresh = await createAction(id, 'SETTINGS', { log_level: 'info' });
      expect(ids(await second.checkin({ status: 'online', message: 'Running' }))).to.deep.equal([fresh]);
    });

    it('When an active id is replaced (id + replace_token), then the new installation does not get the actions pending for the old one', async () => {
      const id = `replaced-${backend}`;
      const token = 'a-replace-token-of-32-characters';
      const old = client();
      await enrollClean(old, { id, replace_token: token });
      await settle(old);
      const pending = await createAction(id, 'SETTINGS', { log_level: 'debug' });
      const replacement = client();
      await enrollClean(replacement, { id, replace_token: token });
      const first = await replacement.checkin({ status: 'starting', message: 'Starting' });
      expect(first.actions!.map((a) => a.type)).to.deep.equal(['POLICY_CHANGE']);
      expect(ids(first)).to.not.include(pending);
      const fresh = await createAction(id, 'SETTINGS', { log_level: 'info' });
      replacement.ackToken = '';
      await replacement.ack([ackEvent(id, first.actions![0]!.id)]);
      expect(ids(await replacement.checkin({ status: 'online', message: 'Running' }))).to.deep.equal([fresh]);
    });

    it('When an agent acknowledged an action and checks in without its ack token, then the action is not delivered again', async () => {
      const c = client();
      await enrollClean(c);
      await settle(c);
      const settings = await createAction(c.agentId!, 'SETTINGS', { log_level: 'debug' });
      expect(ids(await c.checkin({ status: 'online', message: 'Running' }))).to.deep.equal([settings]);
      await c.ack([ackEvent(c.agentId!, settings)]);
      // Results may take a refresh interval to be searchable on Elasticsearch.
      await new Promise((r) => setTimeout(r, 1200));
      c.ackToken = '';
      const again = await c.checkin({ status: 'online', message: 'Running' });
      expect(again.actions ?? []).to.deep.equal([]);
    });
  });

  describe('upgrade state as Kibana shows it', function () {
    it('When an upgrade fails as a 9.0.1 agent reports it (ack without error, then UPG_FAILED), then upgraded_at stays unset, the retry fields are kept and the status is updating', async function () {
      if (!traffic) this.skip();
      const c = client('9.0.1');
      await enrollClean(c);
      await settle(c);
      await request(h.url)
        .post(`/api/fleet/agents/${c.agentId}/upgrade`)
        .set(h.admin)
        .send({ version: '9.1.1', source_uri: 'http://127.0.0.1:18999/downloads/' })
        .expect(200);
      const upgrade = (await c.checkin({ status: 'online', message: 'Running' })).actions!.find((a) => a.type === 'UPGRADE')!;
      expect(upgrade).to.exist;
      const recordedActionId = (recordedBody(16).upgrade_details as Json).action_id as string;
      const replace = { [recordedActionId]: upgrade.id };

      // Exchange 16: downloading, with the retry fields.
      const downloading = recordedBody(16, replace);
      await c.checkin({ status: 'online', message: downloading.message as string, upgrade_details: downloading.upgrade_details as never, poll_timeout: '1m' }, { timeoutMs: 5000 }).catch(() => undefined);
      let doc = await getAgent(c.agentId!);
      expect((doc.upgrade_details as Json).metadata).to.have.property('retry_until');
      expect(doc.status).to.equal('updating');

      // Exchange 19: the agent acks the UPGRADE without an error while still running 9.0.1.
      const ack = await c.ack([ackEvent(c.agentId!, upgrade.id)]);
      expect(ack.status).to.equal(200);
      doc = await getAgent(c.agentId!);
      expect(doc.upgraded_at ?? null, 'an ack from the old version is not completion').to.equal(null);

      // Exchange 17: the failure, with retry fields and the error.
      const failed = recordedBody(17, replace);
      await c.checkin({ status: 'online', message: 'Running', upgrade_details: failed.upgrade_details as never }, { timeoutMs: 5000 }).catch(() => undefined);
      doc = await getAgent(c.agentId!);
      const details = doc.upgrade_details as { state: string; metadata: Json };
      expect(details.state).to.equal('UPG_FAILED');
      expect(details.metadata).to.include.keys('retry_error_msg', 'retry_until', 'failed_state', 'error_msg');
      expect(doc.upgraded_at ?? null).to.equal(null);
      expect(doc.upgrade_started_at).to.be.a('string');
      expect(doc.status).to.equal('updating');

      // It stops reporting the failure while still on 9.0.1: ended, not done.
      await c.checkin({ status: 'online', message: 'Running' }, { timeoutMs: 5000 }).catch(() => undefined);
      doc = await getAgent(c.agentId!);
      expect(doc.upgrade_details ?? null).to.equal(null);
      expect(doc.upgraded_at ?? null).to.equal(null);
      expect(doc.status).to.not.equal('updating');
    });

    it('When the agent acks the upgrade from its new version, then upgraded_at is set', async () => {
      const old = client('9.0.1');
      await enrollClean(old);
      await settle(old);
      await request(h.url).post(`/api/fleet/agents/${old.agentId}/upgrade`).set(h.admin).send({ version: '9.1.0' }).expect(200);
      const upgrade = (await old.checkin({ status: 'online', message: 'Running' })).actions!.find((a) => a.type === 'UPGRADE')!;
      const upgraded = client('9.1.0');
      upgraded.agentId = old.agentId;
      upgraded.accessApiKey = old.accessApiKey;
      expect((await upgraded.ack([ackEvent(old.agentId!, upgrade.id)])).status).to.equal(200);
      const doc = await getAgent(old.agentId!);
      expect(doc.upgraded_at).to.be.a('string');
      expect(doc.upgrade_started_at ?? null).to.equal(null);
    });
  });
});
