import { expect } from 'chai';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { gunzipSync } from 'node:zlib';
import request from 'supertest';
import { loadAgentTraffic, type RecordedExchange, type RecordedTraffic } from './support/agent-traffic';
import { startHarness, type Backend, type Harness } from './support/fleet-server-harness';

/*
 * Every request a real Elastic Agent 9.0.1 sent (../shared/reference/agent-traffic), replayed in
 * order against a fresh server, with ids, keys, action ids and ack tokens substituted. What the
 * operator did between requests (a policy update, SETTINGS, REQUEST_DIAGNOSTICS, two UPGRADEs,
 * UNENROLL, a server restart) is done again at the same point, read from the recorded answers.
 * Each answer must be what a compatible Fleet Server gives; where this server is ahead of the
 * reference on purpose (an enrollment never replays old actions), the expectation says so.
 */

const traffic: RecordedTraffic | undefined = loadAgentTraffic('agent traffic replay');
const POLICY = 'fleet-default-policy';

type Json = Record<string, unknown>;
interface RecordedAction {
  id: string;
  type: string;
  data?: Json;
}
interface Answer {
  status: number;
  body: Json;
}

/** The actions of a recorded checkin answer (some were recorded gzip-decoded, as text). */
function recordedActions(e: RecordedExchange): RecordedAction[] {
  let body = e.response_body;
  if (typeof body === 'string') body = JSON.parse(body.replace(/^\[gunzipped\] /, '')) as unknown;
  return ((body as Json | null)?.actions as RecordedAction[] | undefined) ?? [];
}

function recordedAckToken(e: RecordedExchange): string {
  let body = e.response_body;
  if (typeof body === 'string') body = JSON.parse(body.replace(/^\[gunzipped\] /, '')) as unknown;
  return ((body as Json | null)?.ack_token as string | undefined) ?? '';
}

const policyRevision = (actionId: string): number | undefined => {
  const m = /^policy:[^:]+:(\d+)$/.exec(actionId);
  return m ? Number(m[1]) : undefined;
};

/** Sends one request as the agent sent it (its headers, chunked when it was chunked); gunzips the answer. */
function send(url: string, e: RecordedExchange, path: string, authorization: string, body: string | undefined, signal?: AbortSignal): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...e.headers, Authorization: authorization };
    const chunked = headers['Transfer-Encoding'] === 'chunked';
    if (body !== undefined && !chunked) headers['Content-Length'] = String(Buffer.byteLength(body));
    const req = httpRequest(new URL(path, url), { method: e.method, headers, ...(signal ? { signal } : {}) }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', reject);
      res.once('end', () => {
        let raw = Buffer.concat(chunks);
        if (res.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        const text = raw.toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Json) : {} });
      });
    });
    req.once('error', reject);
    if (body !== undefined && chunked) {
      // As Go's client streams it: in pieces, without a length.
      const mid = Math.floor(body.length / 2);
      req.write(body.slice(0, mid));
      req.end(body.slice(mid));
    } else {
      req.end(body);
    }
  });
}

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) describe(`Replay of a real Elastic Agent 9.0.1's requests (${backend} store)`, function () {
  this.timeout(120_000);
  let h: Harness;

  before(async function () {
    if (!traffic) this.skip();
    // The recording's operator upgraded from a local download mirror: allow it, as an operator would.
    h = await startHarness({ actionUris: { upgradeSource: ['http://127.0.0.1:18999/downloads/'] } }, undefined, backend);
  });
  after(async () => {
    await h?.stop();
  });

  it('When every recorded request is replayed in order, then each gets a compatible answer, starting with 200 for the stock enroll', async () => {
    const t = traffic!;
    const keys = new Map<string, string>(); // agent id → access key of its latest enrollment
    const actionIds = new Map<string, string>(); // recorded action id → this server's
    const tokens = new Map<string, string>(); // recorded ack token → this server's
    const revisions = new Map<number, number>(); // recorded policy revision → this server's
    const delivered = new Set<string>(); // recorded non-policy action ids delivered before
    const unenrolled = new Set<string>(); // agents this run unenrolled through a delivered UNENROLL
    let lastAgent = '';

    const substitute = (text: string): string => {
      let out = text;
      for (const [from, to] of [...actionIds, ...tokens]) out = out.split(from).join(to);
      return out.replace(/policy:fleet-default-policy:(\d+)/g, (whole, rev: string) => {
        const ours = revisions.get(Number(rev));
        return ours === undefined ? whole : `policy:${POLICY}:${ours}`;
      });
    };
    const agentOf = (e: RecordedExchange): string => {
      const body = (e.body ?? {}) as Json;
      const fromAck = ((body.events as Json[] | undefined)?.[0]?.agent_id as string | undefined) ?? undefined;
      const fromUpload = body.agent_id as string | undefined;
      const local = body.local_metadata as { elastic?: { agent?: { id?: string } } } | undefined;
      return fromAck || fromUpload || local?.elastic?.agent?.id || lastAgent;
    };
    const admin = () => request(h.url);
    /** Does what the operator did before this checkin, as its recorded answer shows; returns the action types expected. */
    const operatorStep = async (agentId: string, e: RecordedExchange): Promise<string[]> => {
      const expected: string[] = [];
      for (const a of recordedActions(e)) {
        const rev = policyRevision(a.id);
        if (rev !== undefined) {
          if (!revisions.has(rev)) {
            if (revisions.size === 0) {
              const item = (await admin().get(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).expect(200)).body.item as { revision: number };
              revisions.set(rev, item.revision);
            } else {
              const item = (await admin().put(`/api/fleet/agent_policies/${POLICY}`).set(h.admin).send({ description: `revision ${rev}` }).expect(200)).body
                .item as { revision: number };
              revisions.set(rev, item.revision);
            }
          }
          expected.push(a.type);
          continue;
        }
        // The recording delivered this action again after the agent enrolled again: this server does not.
        if (delivered.has(a.id)) continue;
        if (a.type === 'UPGRADE') {
          await admin().post(`/api/fleet/agents/${agentId}/upgrade`).set(h.admin).send(a.data).expect(200);
        } else if (a.type === 'UNENROLL') {
          await admin().post(`/api/fleet/agents/${agentId}/unenroll`).set(h.admin).send({}).expect(200);
        } else {
          await admin().post(`/api/fleet/agents/${agentId}/actions`).set(h.admin).send({ action: { type: a.type, data: a.data ?? {} } }).expect(200);
        }
        expected.push(a.type);
      }
      return expected;
    };

    for (const e of t.exchanges) {
      const where = `exchange ${e.seq} (${e.method} ${e.path})`;
      const bodyText = e.body === undefined || e.body === null ? undefined : substitute(JSON.stringify(e.body));

      if (e.path === '/api/fleet/agents/enroll') {
        const answer = await send(h.url, e, e.path, `ApiKey ${h.enrollmentToken}`, bodyText);
        // Exchange 1 is the stock agent's body, refused with 400 when recorded: it must enroll now.
        expect(answer.status, `${where}: ${JSON.stringify(answer.body)}`).to.equal(200);
        const item = answer.body.item as { id: string; access_api_key: string };
        keys.set(item.id, item.access_api_key);
        unenrolled.delete(item.id);
        lastAgent = item.id;
        continue;
      }

      const agentId = agentOf(e);
      const key = keys.get(agentId);
      expect(key, `${where}: agent ${agentId} has enrolled`).to.be.a('string');
      const auth = `ApiKey ${key!}`;
      const path = e.path.replace('{agent_id}', agentId);

      if (e.path === '/api/status') {
        const answer = await send(h.url, e, path, auth, undefined);
        expect(answer.status, where).to.equal(200);
        expect(answer.body).to.deep.include({ name: 'fleet-server', status: 'HEALTHY' });
        continue;
      }

      if (e.path.endsWith('/checkin')) {
        const expectedTypes = await operatorStep(agentId, e);
        const sentToken = (JSON.parse(bodyText!) as Json).ack_token as string | undefined;
        if (e.response_status === null) {
          // Still held when the recording stopped: it must be held here too.
          const abort = new AbortController();
          const pending = send(h.url, e, path, auth, bodyText, abort.signal).then(
            (a) => a,
            () => undefined,
          );
          const early = await Promise.race([pending, new Promise<'held'>((r) => setTimeout(() => r('held'), 1000))]);
          expect(early, `${where}: the poll is held`).to.equal('held');
          abort.abort();
          await pending;
          continue;
        }
        const shutdownAnswer = expectedTypes.length === 0 && !!sentToken && recordedAckToken(e) === (e.body as Json).ack_token;
        const answering = send(h.url, e, path, auth, bodyText);
        if (shutdownAnswer) {
          // The recording restarted the server while this poll was held: do the same.
          await new Promise((r) => setTimeout(r, 300));
          await h.restart();
        }
        const answer = await answering;
        expect(answer.status, `${where}: ${JSON.stringify(answer.body)}`).to.equal(200);
        const actions = (answer.body.actions as RecordedAction[] | undefined) ?? [];
        expect(actions.map((a) => a.type), where).to.deep.equal(expectedTypes);
        if (shutdownAnswer) expect(answer.body.ack_token, `${where}: a shutdown answers with the agent's token`).to.equal(sentToken);
        // Map the recorded ids to this server's, in order and by type.
        const recorded = recordedActions(e).filter((a) => policyRevision(a.id) !== undefined || !delivered.has(a.id));
        recorded.forEach((a, i) => {
          const ours = actions[i];
          if (ours && policyRevision(a.id) === undefined) {
            actionIds.set(a.id, ours.id);
            delivered.add(a.id);
            if (a.type === 'UNENROLL') unenrolled.add(agentId);
          }
        });
        // An ack token names the last action delivered; a POLICY_CHANGE alone has none. Where the
        // recording had one only for actions it replayed, this server answers "".
        const token = recordedAckToken(e);
        const carriesActions = expectedTypes.some((type) => type !== 'POLICY_CHANGE');
        if (!shutdownAnswer) {
          if (carriesActions) expect(answer.body.ack_token, `${where}: an ack token`).to.be.a('string').and.not.equal('');
          else expect(answer.body.ack_token, `${where}: no ack token without actions`).to.equal('');
        }
        if (token && carriesActions && !shutdownAnswer) tokens.set(token, answer.body.ack_token as string);
        continue;
      }

      if (e.path.endsWith('/acks')) {
        const answer = await send(h.url, e, path, auth, bodyText);
        // Recorded as 401 only because the replayed old UNENROLL had unenrolled the new enrollment.
        const status = e.response_status === 401 && !unenrolled.has(agentId) ? 200 : e.response_status;
        expect(answer.status, `${where}: ${JSON.stringify(answer.body)}`).to.equal(status);
        if (status === 200) expect((answer.body.items as { status: number }[]).every((i) => i.status === 200), where).to.equal(true);
        continue;
      }

      if (e.path === '/api/fleet/uploads') {
        // Recorded as 404 (no such route then): the agent's upload of its diagnostics bundle begins.
        const answer = await send(h.url, e, path, auth, bodyText);
        expect(answer.status, `${where}: ${JSON.stringify(answer.body)}`).to.equal(200);
        expect(answer.body).to.include({ chunk_size: 4194304 });
        expect(answer.body.upload_id).to.be.a('string');
        continue;
      }

      throw new Error(`${where}: no rule to replay it`);
    }
  });
});
