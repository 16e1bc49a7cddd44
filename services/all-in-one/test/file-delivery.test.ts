import type { FleetAgentClient } from '@fleet/agent-protocol';
import type { ArtifactDoc, DeliveryFileMeta, FileShelf } from '@fleet/store';
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import request from 'supertest';
import { enrollAgent, eventually, startHarness, type Backend, type Harness } from './support/fleet-server-harness';

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The response ended normally (not cut off). */
  complete: boolean;
}

/** A raw GET: exact bytes, and whether the body arrived whole (supertest hides an aborted body). */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, base), { method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      let complete = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => (complete = true));
      res.once('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: complete && !res.errored }));
      res.once('error', () => undefined);
    });
    req.once('error', reject);
    req.end();
  });
}

const json = (res: RawResponse): Record<string, unknown> => JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const ENDPOINT: FileShelf = { kind: 'tohost', source: 'endpoint' };
const CHUNK = 64 * 1024;

function meta(content: Buffer, targets: string[], extra: Partial<DeliveryFileMeta['file']> = {}): DeliveryFileMeta {
  return {
    file: {
      name: 'response-actions.zip',
      size: content.length,
      ChunkSize: CHUNK,
      Status: 'READY',
      mime_type: 'application/zip',
      hash: { sha256: sha256(content) },
      Meta: { target_agents: targets, action_id: 'put-file-1' },
      ...extra,
    },
  };
}

/** Stores a file as Kibana does: metadata, then `{bid, last, data}` chunks of ChunkSize bytes. */
async function storeFile(h: Harness, shelf: FileShelf, id: string, content: Buffer, targets: string[], opts: { skip?: number; truncateLast?: boolean; extra?: Partial<DeliveryFileMeta['file']> } = {}): Promise<void> {
  await h.server.store.deliveryFiles.create(shelf, id, meta(content, targets, opts.extra));
  const count = Math.ceil(content.length / CHUNK);
  for (let i = 0; i < count; i++) {
    if (i === opts.skip) continue;
    let data = content.subarray(i * CHUNK, (i + 1) * CHUNK);
    if (opts.truncateLast && i === count - 1) data = data.subarray(0, data.length - 1);
    await h.server.store.deliveryFiles.putChunk(shelf, id, i, { data, last: i === count - 1 });
  }
}

function artifact(identifier: string, stored: Buffer, extra: Partial<ArtifactDoc> = {}): ArtifactDoc {
  return {
    identifier,
    compression_algorithm: 'zlib',
    encryption_algorithm: 'none',
    encoded_sha256: sha256(stored),
    encoded_size: stored.length,
    decoded_sha256: sha256(Buffer.concat([stored, Buffer.from('decoded')])),
    decoded_size: stored.length + 7,
    created: new Date().toISOString(),
    body: stored.toString('base64'),
    package_name: 'endpoint',
    ...extra,
  };
}

const NO_LIMITS = { intervalMs: 0, burst: 1, max: 0 };

for (const backend of ['sqlite', 'elasticsearch'] as Backend[]) {
  describe(`File delivery, artifacts and the PGP key (${backend})`, function () {
    this.timeout(60_000);
    let h: Harness;
    let agent: FleetAgentClient;
    let other: FleetAgentClient;
    let auth: Record<string, string>;

    before(async () => {
      h = await startHarness(
        { http: { trustProxy: ['127.0.0.1'] }, limits: { fileDelivery: NO_LIMITS, artifact: NO_LIMITS, pgpRetrieval: NO_LIMITS } },
        undefined,
        backend,
      );
      agent = await enrollAgent(h);
      other = await enrollAgent(h);
      auth = { Authorization: `ApiKey ${agent.accessApiKey!}` };
    });
    after(async () => {
      agent.close();
      other.close();
      await h.stop();
    });

    describe('GET /api/fleet/file/:id', function () {
      const content = randomBytes(3 * CHUNK + 3392);

      before(async () => {
        await storeFile(h, ENDPOINT, 'file-multi', content, [agent.agentId!]);
      });

      it('When an agent fetches a READY multi-chunk file targeted to it, then it gets the exact bytes with X-File-SHA2, type and length', async () => {
        const res = await rawGet(h.url, '/api/fleet/file/file-multi', auth);
        expect(res.status).to.equal(200);
        expect(res.complete).to.equal(true);
        expect(res.body.equals(content)).to.equal(true);
        expect(res.headers['x-file-sha2']).to.equal(sha256(content));
        expect(res.headers['content-type']).to.equal('application/zip');
        expect(res.headers['content-length']).to.equal(String(content.length));
        expect(res.headers['accept-ranges']).to.equal('bytes');
        expect(res.headers['elastic-api-version']).to.equal('2023-06-01');
      });

      it('When the agent asks for one byte range across chunks, then it gets 206 with Content-Range and exactly those bytes', async () => {
        const res = await rawGet(h.url, '/api/fleet/file/file-multi', { ...auth, Range: 'bytes=65000-140000' });
        expect(res.status).to.equal(206);
        expect(res.headers['content-range']).to.equal(`bytes 65000-140000/${content.length}`);
        expect(res.headers['content-length']).to.equal('75001');
        expect(res.body.equals(content.subarray(65000, 140001))).to.equal(true);
        const suffix = await rawGet(h.url, '/api/fleet/file/file-multi', { ...auth, Range: 'bytes=-100' });
        expect(suffix.status).to.equal(206);
        expect(suffix.body.equals(content.subarray(content.length - 100))).to.equal(true);
      });

      it('When the range is several ranges, or starts after the end, then the answer is 416 (with bytes */size for the unsatisfiable one)', async () => {
        const multi = await rawGet(h.url, '/api/fleet/file/file-multi', { ...auth, Range: 'bytes=0-9,20-29' });
        expect(multi.status).to.equal(416);
        expect(json(multi)).to.include({ statusCode: 416, error: 'ErrRangeNotSatisfiable' });
        const beyond = await rawGet(h.url, '/api/fleet/file/file-multi', { ...auth, Range: `bytes=${content.length}-` });
        expect(beyond.status).to.equal(416);
        expect(beyond.headers['content-range']).to.equal(`bytes */${content.length}`);
        expect(json(beyond)).to.include({ error: 'ErrRangeNotSatisfiable' });
      });

      it("When an agent asks for another agent's file, a missing file or a file not READY, then it gets 404 ErrFileForDeliveryNotFound", async () => {
        await storeFile(h, ENDPOINT, 'file-pending', Buffer.from('not yet'), [agent.agentId!], { extra: { Status: 'AWAITING_UPLOAD' } });
        const theirs = await rawGet(h.url, '/api/fleet/file/file-multi', { Authorization: `ApiKey ${other.accessApiKey!}` });
        const missing = await rawGet(h.url, '/api/fleet/file/no-such-file', auth);
        const pending = await rawGet(h.url, '/api/fleet/file/file-pending', auth);
        for (const res of [theirs, missing, pending]) {
          expect(res.status).to.equal(404);
          expect(json(res)).to.deep.equal({ statusCode: 404, error: 'ErrFileForDeliveryNotFound', message: 'file not found' });
        }
      });

      it('When a chunk of the file is missing, then the agent gets an error before any byte, never a shorter 200', async () => {
        await storeFile(h, ENDPOINT, 'file-gap', randomBytes(3 * CHUNK), [agent.agentId!], { skip: 1 });
        const res = await rawGet(h.url, '/api/fleet/file/file-gap', auth);
        expect(res.status).to.equal(500);
        expect(json(res)).to.include({ error: 'ErrFileIncomplete' });
        expect(h.logs.some((l) => l.includes('stored file is incomplete') && l.includes('file-gap'))).to.equal(true);
      });

      it('When the last chunk holds fewer bytes than the file size says, then the response is never a complete 200', async () => {
        const short = randomBytes(2 * CHUNK + 10);
        await storeFile(h, ENDPOINT, 'file-short', short, [agent.agentId!], { truncateLast: true });
        const res = await rawGet(h.url, '/api/fleet/file/file-short', auth);
        // SQLite knows chunk lengths up front (500 before any byte); Elasticsearch finds out while
        // streaming and cuts the connection: the body ends short of Content-Length.
        const servedWhole = res.status === 200 && res.complete && res.body.length === short.length;
        expect(servedWhole).to.equal(false);
        expect(res.status === 500 || !res.complete).to.equal(true);
      });

      it('When ?source= is asked without the endpoint-security product origin, then the answer is 403 ErrClientFileForbidden', async () => {
        const none = await rawGet(h.url, '/api/fleet/file/lib-1?source=archive', auth);
        const wrong = await rawGet(h.url, '/api/fleet/file/lib-1?source=archive', { ...auth, 'X-elastic-product-origin': 'kibana' });
        for (const res of [none, wrong]) {
          expect(res.status).to.equal(403);
          expect(json(res)).to.include({ statusCode: 403, error: 'ErrClientFileForbidden' });
        }
      });

      it('When Elastic Defend asks for a library file with ?source=, then it is read from .endpoint-fleetfiles-<source>-*', async function () {
        // The fleet-server service account may not read .endpoint-fleetfiles-* on the test node.
        if (backend === 'elasticsearch') this.skip();
        const lib = randomBytes(CHUNK + 5);
        await storeFile(h, { kind: 'library', integration: 'endpoint', library: 'archive' }, 'lib-1', lib, []);
        const res = await rawGet(h.url, '/api/fleet/file/lib-1?source=ARCHIVE%2A', { ...auth, 'X-elastic-product-origin': 'endpoint-security' });
        expect(res.status).to.equal(200);
        expect(res.body.equals(lib)).to.equal(true);
      });

      it('When the request has no or an invalid API key, then the file is not served', async () => {
        expect((await rawGet(h.url, '/api/fleet/file/file-multi')).status).to.equal(401);
        const bad = Buffer.from('nokey:nosecret').toString('base64');
        expect((await rawGet(h.url, '/api/fleet/file/file-multi', { Authorization: `ApiKey ${bad}` })).status).to.equal(401);
      });
    });

    describe('GET /api/fleet/artifacts/:id/:sha2', function () {
      const stored = randomBytes(5000);
      const good = artifact('endpoint-exceptionlist-linux-v1', stored);
      const unlisted = artifact('endpoint-trustlist-linux-v1', randomBytes(100));
      const tampered = { ...artifact('endpoint-blocklist-linux-v1', randomBytes(200)), body: randomBytes(200).toString('base64') };

      before(async () => {
        for (const doc of [good, unlisted, tampered]) await h.server.store.artifacts.put(doc);
        const manifest = (docs: ArtifactDoc[]) => ({
          manifest_version: '1.0.1',
          schema_version: 'v1',
          artifacts: Object.fromEntries(docs.map((d) => [d.identifier, { decoded_sha256: d.decoded_sha256, relative_url: `/api/fleet/artifacts/${d.identifier}/${d.decoded_sha256}` }])),
        });
        await request(h.url)
          .put('/api/fleet/agent_policies/fleet-default-policy')
          .set(h.admin)
          .send({ inputs: [{ id: 'endpoint-1', type: 'endpoint', artifact_manifest: manifest([good, tampered]) }] })
          .expect(200);
        // The gateway's policy cache learns the revision from the bus or the change feed.
        await eventually(async () => (await rawGet(h.url, `/api/fleet/artifacts/${good.identifier}/${good.decoded_sha256}`, auth)).status === 200, 10_000);
      });

      it("When an artifact is listed in the agent's policy, then the agent gets the stored (base64-decoded) bytes", async () => {
        const res = await rawGet(h.url, `/api/fleet/artifacts/${good.identifier}/${good.decoded_sha256}`, auth);
        expect(res.status).to.equal(200);
        expect(res.body.equals(stored)).to.equal(true);
        expect(res.headers['content-length']).to.equal(String(stored.length));
      });

      it("When the sha2 is not in the agent's policy, then the answer is 403 Forbidden", async () => {
        const res = await rawGet(h.url, `/api/fleet/artifacts/${unlisted.identifier}/${unlisted.decoded_sha256}`, auth);
        expect(res.status).to.equal(403);
        expect(json(res)).to.deep.equal({ statusCode: 403, error: 'Forbidden', message: 'agent not authorized for artifact' });
        const wrongId = await rawGet(h.url, `/api/fleet/artifacts/${unlisted.identifier}/${good.decoded_sha256}`, auth);
        expect(wrongId.status).to.equal(403);
      });

      it('When the sha2 is not 64 hex characters, then the answer is 400', async () => {
        for (const sha of ['abc', 'z'.repeat(64), `${good.decoded_sha256}0`]) {
          const res = await rawGet(h.url, `/api/fleet/artifacts/${good.identifier}/${sha}`, auth);
          expect(res.status, sha).to.equal(400);
          expect(json(res)).to.include({ statusCode: 400, error: 'BadRequest' });
        }
      });

      it('When the stored body does not match its encoded_sha256, then it is never served (not even on a second try)', async () => {
        for (let i = 0; i < 2; i++) {
          const res = await rawGet(h.url, `/api/fleet/artifacts/${tampered.identifier}/${tampered.decoded_sha256}`, auth);
          expect(res.status).to.equal(500);
          expect(json(res)).to.include({ error: 'ErrorMismatchSha2' });
        }
        expect(h.logs.some((l) => l.includes('does not match its encoded_sha256'))).to.equal(true);
      });
    });

    describe('GET /api/agents/upgrades/:version/pgp-public-key', function () {
      const key = Buffer.from('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF...\n-----END PGP PUBLIC KEY BLOCK-----\n');
      const keyFile = () => join(h.dataDir, 'default.pgp');
      const viaTls = { 'X-Forwarded-Proto': 'https' };

      afterEach(() => rmSync(keyFile(), { force: true }));

      it('When the request came over plain HTTP, then the answer is 501 ErrTLSRequired', async () => {
        writeFileSync(keyFile(), key, { mode: 0o600 });
        const res = await rawGet(h.url, '/api/agents/upgrades/9.1.0/pgp-public-key');
        expect(res.status).to.equal(501);
        expect(json(res)).to.deep.equal({ statusCode: 501, error: 'ErrTLSRequired', message: 'server must run with tls to use this endpoint' });
      });

      it('When a trusted proxy says it came over https and the key file has mode 0600, then the key bytes are served', async () => {
        writeFileSync(keyFile(), key, { mode: 0o600 });
        chmodSync(keyFile(), 0o600);
        const res = await rawGet(h.url, '/api/agents/upgrades/9.1.0/pgp-public-key', viaTls);
        expect(res.status).to.equal(200);
        expect(res.body.equals(key)).to.equal(true);
        expect(res.headers['content-type']).to.equal('application/octet-stream');
      });

      it('When the key file has mode 0644, then it is refused with 500 ErrPGPPermissions and a log line saying why', async () => {
        writeFileSync(keyFile(), key);
        chmodSync(keyFile(), 0o644);
        const res = await rawGet(h.url, '/api/agents/upgrades/9.1.0/pgp-public-key', viaTls);
        expect(res.status).to.equal(500);
        expect(json(res)).to.include({ error: 'ErrPGPPermissions' });
        expect(res.body.includes(key)).to.equal(false);
        expect(h.logs.some((l) => l.includes('PGP key file refused') && l.includes('default.pgp'))).to.equal(true);
      });

      it('When the key file is missing, then the answer is 404', async () => {
        const res = await rawGet(h.url, '/api/agents/upgrades/9.1.0/pgp-public-key', viaTls);
        expect(res.status).to.equal(404);
        expect(json(res)).to.include({ statusCode: 404, error: 'ErrPGPKeyNotFound' });
      });

      it('When the version is not major.minor.patch digits, then the answer is 400', async () => {
        writeFileSync(keyFile(), key, { mode: 0o600 });
        for (const version of ['9.1', '9.1.x', 'latest']) {
          const res = await rawGet(h.url, `/api/agents/upgrades/${version}/pgp-public-key`, viaTls);
          expect(res.status, version).to.equal(400);
        }
      });
    });
  });
}

describe('PGP key behind an untrusted proxy', function () {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.stop());

  it('When X-Forwarded-Proto: https comes from a peer that is not a trusted proxy, then the answer is still 501', async () => {
    writeFileSync(join(h.dataDir, 'default.pgp'), 'key', { mode: 0o600 });
    const res = await rawGet(h.url, '/api/agents/upgrades/9.1.0/pgp-public-key', { 'X-Forwarded-Proto': 'https' });
    expect(res.status).to.equal(501);
  });
});
