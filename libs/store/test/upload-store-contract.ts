/**
 * The `store.uploads` part of the store contract (files uploaded by agents), run by
 * `defineStoreContract` for every backend.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { DocumentConflictError, DocumentNotFoundError, uploadFileId } from '@fleet/store';
import type { FleetStore, UploadChunk, UploadFileRef, UploadMetaDoc, UploadStatus } from '@fleet/store';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');
const HOUR = 3_600_000;

export function metaDoc(actionId: string, agentId: string, overrides: Partial<UploadMetaDoc> = {}, status: UploadStatus = 'AWAITING_UPLOAD'): UploadMetaDoc {
  return {
    '@timestamp': T0,
    upload_start: T0,
    upload_id: `upload-${actionId}-${agentId}`,
    action_id: actionId,
    agent_id: agentId,
    src: 'agent',
    namespaces: [],
    file: { name: 'diag.zip', mime_type: 'application/zip', size: 10, ChunkSize: 4, Status: status, ext: 'zip' },
    contents: null,
    ...overrides,
  };
}

const chunk = (pos: number, data: Buffer, last = false): UploadChunk => ({
  pos,
  last,
  sha2: createHash('sha256').update(data).digest('hex'),
  data,
});

async function collect(it: AsyncIterable<UploadChunk>): Promise<UploadChunk[]> {
  const out: UploadChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

export function defineUploadStoreContract(store: () => FleetStore): void {
  describe('uploads', function () {
    const ref = (actionId: string, agentId: string): UploadFileRef => ({ id: uploadFileId(actionId, agentId), src: 'agent' });

    it('When an upload begins, then its meta document is found by id, by upload id and by agent, with the extra fields kept', async function () {
      const doc = metaDoc('act-1', 'agent-1');
      const created = await store().uploads.begin(doc);
      expect(created).to.deep.equal({ id: 'act-1.agent-1', doc });
      expect(await store().uploads.get('act-1.agent-1')).to.deep.equal(created);
      expect(await store().uploads.findByUploadId(doc.upload_id)).to.deep.equal(created);
      expect(await store().uploads.findByUploadId('nope')).to.equal(undefined);
      expect(await store().uploads.get('nope')).to.equal(undefined);

      await store().uploads.begin(metaDoc('act-2', 'agent-1', { upload_start: T0 + HOUR, '@timestamp': T0 + HOUR }));
      await store().uploads.begin(metaDoc('act-1', 'agent-2'));
      expect((await store().uploads.listByAgent('agent-1')).map((r) => r.id)).to.deep.equal(['act-2.agent-1', 'act-1.agent-1']);
      expect(await store().uploads.listByAgent('agent-3')).to.deep.equal([]);
    });

    it('When an upload begins twice for the same action and agent, then the second fails with DocumentConflictError', async function () {
      await store().uploads.begin(metaDoc('act-1', 'agent-1'));
      let err: unknown;
      await store().uploads.begin(metaDoc('act-1', 'agent-1', { upload_id: 'other' })).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(DocumentConflictError);
      expect((await store().uploads.get('act-1.agent-1'))?.doc.upload_id).to.equal('upload-act-1-agent-1');
    });

    it('When an upload is replaced, then the new meta document is found under the same id and by its new upload id only', async function () {
      await store().uploads.begin(metaDoc('act-1', 'agent-1'));
      const next = metaDoc('act-1', 'agent-1', { upload_id: 'second', upload_start: T0 + HOUR });
      expect(await store().uploads.replace(next)).to.deep.equal({ id: 'act-1.agent-1', doc: next });
      expect(await store().uploads.get('act-1.agent-1')).to.deep.equal({ id: 'act-1.agent-1', doc: next });
      expect(await store().uploads.findByUploadId('second')).to.deep.equal({ id: 'act-1.agent-1', doc: next });
      expect(await store().uploads.findByUploadId('upload-act-1-agent-1')).to.equal(undefined);
      let err: unknown;
      await store().uploads.replace(metaDoc('act-2', 'agent-1')).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(DocumentNotFoundError);
    });

    it('When chunks are put out of order and one again, then the list has each position once, without data, and the reads are in order with the last bytes', async function () {
      const file = ref('act-1', 'agent-1');
      await store().uploads.begin(metaDoc('act-1', 'agent-1'));
      const parts = [randomBytes(4), randomBytes(4), randomBytes(2)];
      await store().uploads.putChunk(file, chunk(2, parts[2] as Buffer, true));
      await store().uploads.putChunk(file, chunk(0, randomBytes(4)));
      await store().uploads.putChunk(file, chunk(1, parts[1] as Buffer));
      await store().uploads.putChunk(file, chunk(0, parts[0] as Buffer));

      const infos = await store().uploads.listChunks(file);
      expect(infos).to.deep.equal(parts.map((p, i) => ({ pos: i, last: i === 2, sha2: chunk(i, p).sha2 })));
      expect(infos.every((c) => !('data' in c))).to.equal(true);

      const read = await collect(store().uploads.readChunks(file));
      expect(read.map((c) => c.pos)).to.deep.equal([0, 1, 2]);
      expect(Buffer.concat(read.map((c) => c.data)).equals(Buffer.concat(parts))).to.equal(true);
      expect(read.map((c) => c.last)).to.deep.equal([false, false, true]);
    });

    it('When one chunk or all chunks are deleted, then they are gone and other files keep theirs', async function () {
      const file = ref('act-1', 'agent-1');
      const other = ref('act-1', 'agent-2');
      await store().uploads.begin(metaDoc('act-1', 'agent-1'));
      await store().uploads.begin(metaDoc('act-1', 'agent-2'));
      for (const pos of [0, 1, 2]) await store().uploads.putChunk(file, chunk(pos, randomBytes(4), pos === 2));
      await store().uploads.putChunk(other, chunk(0, randomBytes(4)));

      await store().uploads.deleteChunk(file, 1);
      await store().uploads.deleteChunk(file, 7);
      expect((await store().uploads.listChunks(file)).map((c) => c.pos)).to.deep.equal([0, 2]);

      expect(await store().uploads.deleteChunks(file)).to.equal(2);
      expect(await store().uploads.listChunks(file)).to.deep.equal([]);
      expect(await collect(store().uploads.readChunks(file))).to.deep.equal([]);
      expect((await store().uploads.listChunks(other)).map((c) => c.pos)).to.deep.equal([0]);
    });

    it('When a status is set, then the meta document carries it (and the transit hash) and other fields are kept', async function () {
      const doc = metaDoc('act-1', 'agent-1');
      await store().uploads.begin(doc);
      const ready = await store().uploads.setStatus('act-1.agent-1', 'READY', 'abc');
      expect(ready.doc).to.deep.equal({ ...doc, file: { ...doc.file, Status: 'READY' }, transithash: { sha256: 'abc' } });
      expect(await store().uploads.get('act-1.agent-1')).to.deep.equal(ready);

      const failed = await store().uploads.setStatus('act-1.agent-1', 'UPLOAD_ERROR');
      expect(failed.doc.file.Status).to.equal('UPLOAD_ERROR');
      expect(failed.doc.transithash).to.deep.equal({ sha256: 'abc' });

      let err: unknown;
      await store().uploads.setStatus('missing.agent', 'READY').catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(DocumentNotFoundError);
    });

    it('When uploads are old, then findAbandoned lists only those still awaiting chunks, oldest first and bounded', async function () {
      await store().uploads.begin(metaDoc('old-2', 'a', { upload_start: T0 - 2 * HOUR }));
      await store().uploads.begin(metaDoc('old-1', 'a', { upload_start: T0 - 3 * HOUR }));
      await store().uploads.begin(metaDoc('old-3', 'a', { upload_start: T0 - HOUR }));
      await store().uploads.begin(metaDoc('fresh', 'a', { upload_start: T0 + HOUR }));
      await store().uploads.begin(metaDoc('done', 'a', { upload_start: T0 - 3 * HOUR }, 'READY'));
      await store().uploads.begin(metaDoc('failed', 'a', { upload_start: T0 - 3 * HOUR }, 'UPLOAD_ERROR'));

      const found = await store().uploads.findAbandoned({ startedBefore: new Date(T0), limit: 2 });
      expect(found.map((r) => r.id)).to.deep.equal(['old-1.a', 'old-2.a']);
      const all = await store().uploads.findAbandoned({ startedBefore: new Date(T0), limit: 10 });
      expect(all.map((r) => r.id)).to.deep.equal(['old-1.a', 'old-2.a', 'old-3.a']);
      await store().uploads.setStatus('old-1.a', 'EXPIRED');
      expect((await store().uploads.findAbandoned({ startedBefore: new Date(T0), limit: 10 })).map((r) => r.id)).to.deep.equal(['old-2.a', 'old-3.a']);
    });
  });
}
