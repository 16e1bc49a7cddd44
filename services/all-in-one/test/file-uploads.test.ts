import { FleetApiError, type EnrollRequest, type FleetAgentClient } from '@fleet/agent-protocol';
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { resolve } from 'node:path';
import request from 'supertest';
import { enrollAgent, eventually, localMetadata, sleep, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

const MiB = 1024 * 1024;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
/** The transit hash: SHA-256 over the raw 32-byte digests of the chunks, in order. */
const transitHash = (chunks: Buffer[]): string => sha256(Buffer.concat(chunks.map((c) => createHash('sha256').update(c).digest())));

/** The recorded agent traffic; lives outside the repository (a sibling `shared/` of its root). */
const TRAFFIC = resolve(__dirname, '..', '..', '..', '..', 'shared', 'reference', 'agent-traffic', 'elastic-agent-9.0.1.json');

/** Exchange 1: the body a stock Elastic Agent 9.0.1 sends to enroll, exactly as recorded. */
function recordedEnrollBody(): EnrollRequest | undefined {
  if (!existsSync(TRAFFIC)) return undefined;
  const traffic = JSON.parse(readFileSync(TRAFFIC, 'utf8')) as { exchanges: { seq: number; path: string; body: unknown }[] };
  const enroll = traffic.exchanges.find((e) => e.seq === 1 && e.path === '/api/fleet/agents/enroll');
  return enroll?.body as EnrollRequest | undefined;
}

const binary = (res: request.Response, cb: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

async function failure(p: Promise<unknown>): Promise<FleetApiError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, 'the call should have failed').to.be.instanceOf(FleetApiError);
  return err as FleetApiError;
}

const fileInfo = (actionId: string, agentId: string, size: number, overrides: Record<string, unknown> = {}) => ({
  action_id: actionId,
  agent_id: agentId,
  src: 'agent',
  file: { size, name: 'elastic-agent-diagnostics-2026-11-29T22-05-19Z-00.zip', ext: 'zip', mime_type: 'application/zip', hash: { sha256: '', md5: '' } },
  contents: null,
  ...overrides,
});

/** Relaxed upload rate limits (the reference's 2 s interval would throttle a test) and a 20 MiB file limit. */
const OVERRIDES = {
  limits: { uploadStart: { intervalMs: 0 }, uploadChunk: { intervalMs: 0 }, uploadEnd: { intervalMs: 0 } },
  uploads: { maxFileStorageBytes: 20 * MiB },
};

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) describe(`Diagnostics uploads (all-in-one, ${backend} store)`, function () {
  this.timeout(60_000);
  let h: Harness;
  const agents: FleetAgentClient[] = [];

  before(async () => {
    h = await startHarness(OVERRIDES, undefined, backend);
  });
  after(async () => {
    for (const a of agents) a.close();
    await h.stop();
  });

  const enrolled = async (): Promise<FleetAgentClient> => {
    const agent = await enrollAgent(h);
    agents.push(agent);
    return agent;
  };
  const requestDiagnostics = async (agentId: string): Promise<string> => {
    const res = await request(h.url).post(`/api/fleet/agents/${agentId}/request_diagnostics`).set(h.admin).send({}).expect(200);
    expect(res.body.actionId).to.be.a('string');
    return res.body.actionId as string;
  };
  const uploads = async (agentId: string) =>
    (await request(h.url).get(`/api/fleet/agents/${agentId}/uploads`).set(h.admin).expect(200)).body.items as Record<string, unknown>[];
  const stored = (fileId: string) => h.server.store.uploads.listChunks({ id: fileId, src: 'agent' });

  it('When the operator requests diagnostics from an agent enrolled with the recorded 9.0.1 enroll body, then the agent gets the action, uploads a 3-chunk file, and the operator lists it READY and downloads the same bytes', async function () {
    const body = recordedEnrollBody();
    if (!body) {
      process.stderr.write(`skipped: ${TRAFFIC} is absent\n`);
      this.skip();
    }
    const agent = h.agent({ agentVersion: '9.0.1' });
    agents.push(agent);
    await agent.enroll(h.enrollmentToken, body);
    const agentId = agent.agentId as string;

    const actionId = await requestDiagnostics(agentId);
    const action = await eventually(async () => {
      const res = await agent.checkin({ status: 'online', message: 'Running', local_metadata: localMetadata() }, { timeoutMs: 10_000 });
      return res.actions?.find((a) => a.type === 'REQUEST_DIAGNOSTICS');
    }, 20_000);
    expect(action.id).to.equal(actionId);

    const data = randomBytes(9 * MiB);
    const name = 'elastic-agent-diagnostics-2026-11-29T22-05-19Z-00.zip';
    const { uploadId } = await agent.uploadFile({ actionId, name, mimeType: 'application/zip', data });
    const ack = await agent.ack([
      {
        type: 'ACTION_RESULT',
        subtype: 'ACKNOWLEDGED',
        action_id: actionId,
        agent_id: agentId,
        message: `Action "${actionId}" of type "REQUEST_DIAGNOSTICS" acknowledged.`,
        timestamp: new Date().toISOString(),
        data: { upload_id: uploadId },
      },
    ]);
    expect(ack.status).to.equal(200);

    const fileId = `${actionId}.${agentId}`;
    const items = await uploads(agentId);
    expect(items).to.have.length(1);
    expect(items[0]).to.deep.include({ id: fileId, actionId, name, status: 'READY', filePath: `/api/fleet/agents/files/${fileId}/${name}` });
    expect((await stored(fileId)).map((c) => c.pos)).to.deep.equal([0, 1, 2]);

    const download = await request(h.url).get(items[0]?.filePath as string).set(h.admin).buffer(true).parse(binary).expect(200);
    expect(download.headers['content-type']).to.equal('application/octet-stream');
    expect(download.headers['content-disposition']).to.equal(`attachment; filename="${name}"`);
    expect(download.headers['content-length']).to.equal(String(data.length));
    expect(sha256(download.body as Buffer)).to.equal(sha256(data));

    // A READY file is never overwritten by another begin for its action.
    const again = await failure(agent.uploadBegin(fileInfo(actionId, agentId, 10)));
    expect([again.status, again.body?.error]).to.deep.equal([409, 'ErrUploadConflict']);

    // Its meta document is the reference's shape.
    const meta = await h.server.store.uploads.get(fileId);
    expect(meta?.doc).to.deep.include({ action_id: actionId, agent_id: agentId, src: 'agent', upload_id: uploadId });
    expect(meta?.doc.file).to.deep.include({ name, size: data.length, ChunkSize: 4 * MiB, Status: 'READY', mime_type: 'application/zip' });
    expect(meta?.doc.transithash?.sha256).to.equal(transitHash([data.subarray(0, 4 * MiB), data.subarray(4 * MiB, 8 * MiB), data.subarray(8 * MiB)]));
  });

  it('When a chunk does not hash to its X-Chunk-SHA2, then it is refused with ErrHashMismatch and nothing stays stored at its position; a new begin replaces the unfinished upload', async () => {
    const agent = await enrolled();
    const actionId = await requestDiagnostics(agent.agentId as string);
    const begin = await agent.uploadBegin(fileInfo(actionId, agent.agentId as string, 10));
    expect(begin.chunk_size).to.equal(4 * MiB);
    const good = randomBytes(10);
    await agent.uploadChunk(begin.upload_id, 0, good);
    expect(await stored(`${actionId}.${agent.agentId}`)).to.have.length(1);

    const err = await failure(agent.uploadChunk(begin.upload_id, 0, randomBytes(10), sha256(good)));
    expect(err.status).to.equal(400);
    expect(err.body?.error).to.equal('ErrHashMismatch');
    expect(await stored(`${actionId}.${agent.agentId}`)).to.deep.equal([]);

    // Beginning again replaces the unfinished upload: the old upload id is forgotten.
    await agent.uploadChunk(begin.upload_id, 0, good);
    const again = await agent.uploadBegin(fileInfo(actionId, agent.agentId as string, 10));
    expect(again.upload_id).to.not.equal(begin.upload_id);
    expect(await stored(`${actionId}.${agent.agentId}`)).to.deep.equal([]);
    const old = await failure(agent.uploadChunk(begin.upload_id, 0, good));
    expect([old.status, old.body?.error]).to.deep.equal([400, 'ErrAPIKeyNotFound']);
    await agent.uploadChunk(again.upload_id, 0, good);
    await agent.uploadFinish(again.upload_id, transitHash([good]));
  });

  it('When a chunk is larger than 4 MiB, then it is refused with 413 before anything is stored', async () => {
    const agent = await enrolled();
    const actionId = await requestDiagnostics(agent.agentId as string);
    const begin = await agent.uploadBegin(fileInfo(actionId, agent.agentId as string, 8 * MiB));
    const err = await failure(agent.uploadChunk(begin.upload_id, 0, randomBytes(4 * MiB + 1)));
    expect(err.status).to.equal(413);
    expect(err.body?.error).to.equal('ErrPayloadSizeTooLarge');
    expect(await stored(`${actionId}.${agent.agentId}`)).to.deep.equal([]);
  });

  it('When a chunk number is outside the file, then it is refused with ErrInvalidChunkNum', async () => {
    const agent = await enrolled();
    const actionId = await requestDiagnostics(agent.agentId as string);
    const begin = await agent.uploadBegin(fileInfo(actionId, agent.agentId as string, 10));
    for (const n of [1, 99]) {
      const err = await failure(agent.uploadChunk(begin.upload_id, n, randomBytes(10)));
      expect([err.status, err.body?.error], `chunk ${n}`).to.deep.equal([400, 'ErrInvalidChunkNum']);
    }
    expect(await stored(`${actionId}.${agent.agentId}`)).to.deep.equal([]);
  });

  it('When the upload ends with a chunk missing, then it fails with ErrMissingChunks, is UPLOAD_ERROR with its chunks deleted, is listed FAILED and cannot be downloaded', async () => {
    const agent = await enrolled();
    const agentId = agent.agentId as string;
    const actionId = await requestDiagnostics(agentId);
    const first = randomBytes(4 * MiB);
    const begin = await agent.uploadBegin(fileInfo(actionId, agentId, 4 * MiB + 10));
    await agent.uploadChunk(begin.upload_id, 0, first);
    const err = await failure(agent.uploadFinish(begin.upload_id, transitHash([first])));
    expect([err.status, err.body?.error]).to.deep.equal([400, 'ErrMissingChunks']);

    const fileId = `${actionId}.${agentId}`;
    expect((await h.server.store.uploads.get(fileId))?.doc.file.Status).to.equal('UPLOAD_ERROR');
    expect(await stored(fileId)).to.deep.equal([]);
    const [item] = await uploads(agentId);
    expect(item).to.include({ id: fileId, status: 'FAILED' });
    const name = 'elastic-agent-diagnostics-2026-11-29T22-05-19Z-00.zip';
    await request(h.url).get(`/api/fleet/agents/files/${fileId}/${name}`).set(h.admin).expect(404);
  });

  it('When the upload ends with a wrong transit hash, then it fails with ErrFailValidation, nothing is READY or downloadable, and it takes no more chunks', async () => {
    const agent = await enrolled();
    const agentId = agent.agentId as string;
    const actionId = await requestDiagnostics(agentId);
    const data = randomBytes(10);
    const begin = await agent.uploadBegin(fileInfo(actionId, agentId, 10));
    await agent.uploadChunk(begin.upload_id, 0, data);
    const err = await failure(agent.uploadFinish(begin.upload_id, transitHash([randomBytes(10)])));
    expect([err.status, err.body?.error]).to.deep.equal([400, 'ErrFailValidation']);

    const fileId = `${actionId}.${agentId}`;
    expect((await h.server.store.uploads.get(fileId))?.doc.file.Status).to.equal('UPLOAD_ERROR');
    expect(await stored(fileId)).to.deep.equal([]);
    expect((await uploads(agentId)).filter((i) => i.status === 'READY')).to.deep.equal([]);
    await request(h.url).get(`/api/fleet/agents/files/${fileId}/elastic-agent-diagnostics-2026-11-29T22-05-19Z-00.zip`).set(h.admin).expect(404);
    const again = await failure(agent.uploadChunk(begin.upload_id, 0, data));
    expect([again.status, again.body?.error]).to.deep.equal([400, 'ErrUploadStopped']);
    const end = await failure(agent.uploadFinish(begin.upload_id, transitHash([data])));
    expect([end.status, end.body?.error]).to.deep.equal([400, 'ErrStatusNoUploads']);
    const missing = await failure(agent.uploadFinish(begin.upload_id, ''));
    expect([missing.status, missing.body?.error]).to.deep.equal([400, 'TransitHashRequired']);
  });

  it("When an agent begins an upload for another agent's action, or names another agent, then it is refused with 403", async () => {
    const a = await enrolled();
    const b = await enrolled();
    const actionOfB = await requestDiagnostics(b.agentId as string);
    const forbidden = await failure(a.uploadBegin(fileInfo(actionOfB, a.agentId as string, 10)));
    expect([forbidden.status, forbidden.body?.error]).to.deep.equal([403, 'ErrUploadActionForbidden']);
    const identity = await failure(a.uploadBegin(fileInfo(actionOfB, b.agentId as string, 10)));
    expect([identity.status, identity.body?.error]).to.deep.equal([403, 'ErrAgentIdentity']);
    expect(await h.server.store.uploads.listByAgent(b.agentId as string)).to.deep.equal([]);

    // Nor can another agent's key send chunks to, or end, an upload.
    const begin = await b.uploadBegin(fileInfo(actionOfB, b.agentId as string, 10));
    const chunk = await failure(a.uploadChunk(begin.upload_id, 0, randomBytes(10)));
    expect([chunk.status, chunk.body?.error]).to.deep.equal([403, 'ErrAgentIdentity']);
    const end = await failure(a.uploadFinish(begin.upload_id, transitHash([randomBytes(10)])));
    expect([end.status, end.body?.error]).to.deep.equal([403, 'ErrAgentIdentity']);
    expect(await stored(`${actionOfB}.${b.agentId}`)).to.deep.equal([]);
  });

  it('When the file info is incomplete or the file too large, then begin answers the reference errors and stores nothing', async () => {
    const agent = await enrolled();
    const agentId = agent.agentId as string;
    const actionId = await requestDiagnostics(agentId);
    const base = fileInfo(actionId, agentId, 10);
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, file: { ...base.file, size: 20 * MiB + 1 } }, 'ErrFileSizeTooLarge'],
      [{ ...base, file: { ...base.file, name: '' } }, 'ErrFieldRequired'],
      [{ ...base, action_id: undefined }, 'ErrFieldRequired'],
      [{ ...base, file: { ...base.file, size: undefined } }, 'ErrFileSizeRequired'],
      [{ ...base, file: { ...base.file, size: 0 } }, 'ErrInvalidFileSize'],
    ];
    for (const [body, error] of cases) {
      const err = await failure(agent.uploadBegin(body as never));
      expect([err.status, err.body?.error], error).to.deep.equal([400, error]);
    }
    expect(await h.server.store.uploads.listByAgent(agentId)).to.deep.equal([]);
  });

  it('When a begin comes without valid credentials, then it is refused with 401 before its body is read', async () => {
    const status = await new Promise<number>((done, fail) => {
      const req = httpRequest(`${h.url}/api/fleet/uploads`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': String(64 * MiB) } }, (res) => {
        res.resume();
        done(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', (err) => (req.destroyed ? undefined : fail(err)));
      req.write('{');
    });
    expect(status).to.equal(401);
  });

  it('When the operator asks an unknown or unenrolled agent for diagnostics, then the answers are 404 and 400; bulk requests reach every listed active agent', async () => {
    await request(h.url).post('/api/fleet/agents/nope/request_diagnostics').set(h.admin).send({}).expect(404);
    const gone = await enrolled();
    await request(h.url).post(`/api/fleet/agents/${gone.agentId}/unenroll`).set(h.admin).send({ revoke: true }).expect(200);
    await request(h.url).post(`/api/fleet/agents/${gone.agentId}/request_diagnostics`).set(h.admin).send({}).expect(400);
    await request(h.url).post('/api/fleet/agents/x/request_diagnostics').set(h.admin).send({ additional_metrics: ['DISK'] }).expect(400);

    const a = await enrolled();
    const b = await enrolled();
    const res = await request(h.url)
      .post('/api/fleet/agents/bulk_request_diagnostics')
      .set(h.admin)
      .send({ agents: [a.agentId, b.agentId, gone.agentId, 'nope'], additional_metrics: ['CPU'] })
      .expect(200);
    const actionId = res.body.actionId as string;
    const action = await h.server.store.actions.findByActionId(actionId);
    expect(action?._source).to.deep.include({ type: 'REQUEST_DIAGNOSTICS', data: { additional_metrics: ['CPU'] } });
    expect(action?._source.agents).to.have.members([a.agentId, b.agentId]);
    for (const agent of [a, b]) {
      const items = await uploads(agent.agentId as string);
      expect(items.map((i) => [i.actionId, i.status])).to.deep.include([actionId, 'IN_PROGRESS']);
    }
    const byKuery = await request(h.url)
      .post('/api/fleet/agents/bulk_request_diagnostics')
      .set(h.admin)
      .send({ agents: 'policy_id:fleet-default-policy' })
      .expect(200);
    const matching = await h.server.store.actions.findByActionId(byKuery.body.actionId as string);
    expect(matching?._source.agents).to.include.members([a.agentId, b.agentId]).and.not.include(gone.agentId);
    // The paths under /agents are not agent ids, and they need the admin token.
    await request(h.url).get('/api/fleet/agents/files/nope/diag.zip').expect(401);
    await request(h.url).get('/api/fleet/agents/files/nope/diag.zip').set(h.admin).expect(404);
  });
});

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) describe(`Abandoned uploads (all-in-one, ${backend} store)`, function () {
  this.timeout(60_000);
  let h: Harness;
  let agent: FleetAgentClient;

  before(async () => {
    h = await startHarness({ ...OVERRIDES, uploads: { expiryMs: 5000 }, dispatch: { uploadSweepIntervalMs: 0 } }, undefined, backend);
    agent = await enrollAgent(h);
  });
  after(async () => {
    agent?.close();
    await h.stop();
  });

  it('When an upload is not finished before it expires, then it takes no more chunks, and the cleanup job deletes its chunks and marks it EXPIRED', async () => {
    const agentId = agent.agentId as string;
    const actionId = (await request(h.url).post(`/api/fleet/agents/${agentId}/request_diagnostics`).set(h.admin).send({}).expect(200)).body.actionId as string;
    const startedAt = Date.now();
    const begin = await agent.uploadBegin(fileInfo(actionId, agentId, 4 * MiB + 10));
    await agent.uploadChunk(begin.upload_id, 0, randomBytes(4 * MiB));
    const fileId = `${actionId}.${agentId}`;
    const file = { id: fileId, src: 'agent' };
    expect(await h.server.store.uploads.listChunks(file)).to.have.length(1);

    // Nothing is abandoned before the expiry.
    expect(await h.server.dispatcher.jobHandlers['expire-abandoned-uploads']({})).to.deep.equal({ expired: 0, chunks: 0 });
    await sleep(startedAt + 5200 - Date.now());
    const late = await failure(agent.uploadChunk(begin.upload_id, 1, randomBytes(10)));
    expect([late.status, late.body?.error]).to.deep.equal([400, 'ErrUploadExpired']);

    expect(await h.server.dispatcher.jobHandlers['expire-abandoned-uploads']({})).to.deep.equal({ expired: 1, chunks: 1 });
    expect(await h.server.store.uploads.listChunks(file)).to.deep.equal([]);
    expect((await h.server.store.uploads.get(fileId))?.doc.file.Status).to.equal('EXPIRED');
    const items = (await request(h.url).get(`/api/fleet/agents/${agentId}/uploads`).set(h.admin).expect(200)).body.items as Record<string, unknown>[];
    expect(items.map((i) => [i.id, i.status])).to.deep.equal([[fileId, 'EXPIRED']]);
    // A second run finds nothing left to do.
    expect(await h.server.dispatcher.jobHandlers['expire-abandoned-uploads']({})).to.deep.equal({ expired: 0, chunks: 0 });
  });

  it('When file storage is set to 0, then uploads are refused with 403 ErrFileFeatureDisable', async () => {
    await h.restart({ uploads: { maxFileStorageBytes: 0 } });
    const agentId = agent.agentId as string;
    const actionId = (await request(h.url).post(`/api/fleet/agents/${agentId}/request_diagnostics`).set(h.admin).send({}).expect(200)).body.actionId as string;
    const err = await failure(agent.uploadBegin(fileInfo(actionId, agentId, 10)));
    expect([err.status, err.body?.error]).to.deep.equal([403, 'ErrFileFeatureDisable']);
  });
});
