/**
 * The delivered-files and artifacts part of the store contract (registered by `defineStoreContract`).
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { DocumentConflictError, type ArtifactDoc, type DeliveryFileMeta, type FleetStore, type FileShelf } from '@fleet/store';

const ENDPOINT: FileShelf = { kind: 'tohost', source: 'endpoint' };

export function fileMeta(size: number, targets: string[], extra: Partial<DeliveryFileMeta['file']> = {}): DeliveryFileMeta {
  return {
    file: {
      name: 'payload.zip',
      size,
      ChunkSize: 4,
      Status: 'READY',
      mime_type: 'application/zip',
      Meta: { target_agents: targets, action_id: 'action-1' },
      ...extra,
    },
  };
}

export function artifactDoc(identifier: string, content: Buffer, extra: Partial<ArtifactDoc> = {}): ArtifactDoc {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  return {
    identifier,
    compression_algorithm: 'none',
    encryption_algorithm: 'none',
    encoded_sha256: sha(content),
    encoded_size: content.length,
    decoded_sha256: sha(content),
    decoded_size: content.length,
    created: '2025-06-01T12:00:00.000Z',
    body: content.toString('base64'),
    package_name: 'endpoint',
    ...extra,
  };
}

export function defineDeliveryContract(store: () => FleetStore): void {
  describe('deliveryFiles', function () {
    it('When a READY file targets an agent, then findForAgent returns it for that agent only, and its chunks come back in order with their bytes', async function () {
      const files = store().deliveryFiles;
      await files.create(ENDPOINT, 'file-1', fileMeta(10, ['agent-a', 'agent-b']));
      // Written out of order, as concurrent writers may.
      await files.putChunk(ENDPOINT, 'file-1', 2, { data: Buffer.from('89'), last: true });
      await files.putChunk(ENDPOINT, 'file-1', 0, { data: Buffer.from('0123'), last: false });
      await files.putChunk(ENDPOINT, 'file-1', 1, { data: Buffer.from('4567'), last: false });

      const found = await files.findForAgent('file-1', 'agent-b');
      expect(found?.id).to.equal('file-1');
      expect(found?.meta.file.size).to.equal(10);
      expect(found?.meta.file.Meta?.target_agents).to.deep.equal(['agent-a', 'agent-b']);
      expect(await files.findForAgent('file-1', 'agent-c')).to.equal(undefined);
      expect(await files.findForAgent('file-2', 'agent-a')).to.equal(undefined);

      const chunks = await files.listChunks(found!);
      expect(chunks.map((c) => [c.id, c.pos, c.last])).to.deep.equal([
        ['file-1.0', 0, false],
        ['file-1.1', 1, false],
        ['file-1.2', 2, true],
      ]);
      const bytes = await Promise.all(chunks.map((c) => files.readChunk(c)));
      expect(Buffer.concat(bytes.map((b) => b!)).toString()).to.equal('0123456789');
      for (const c of chunks) if (c.size !== undefined) expect(c.size).to.equal(c.pos === 2 ? 2 : 4);
    });

    it('When files live under different integrations, then findForAgent finds each, and chunks of a file whose id prefixes another are not mixed in', async function () {
      const files = store().deliveryFiles;
      await files.create({ kind: 'tohost', source: 'agent' }, 'f1', fileMeta(1, ['agent-a']));
      await files.create(ENDPOINT, 'f10', fileMeta(1, ['agent-a']));
      await files.putChunk({ kind: 'tohost', source: 'agent' }, 'f1', 0, { data: Buffer.from('a'), last: true });
      await files.putChunk(ENDPOINT, 'f10', 0, { data: Buffer.from('b'), last: true });

      const f1 = await files.findForAgent('f1', 'agent-a');
      const f10 = await files.findForAgent('f10', 'agent-a');
      expect((await files.listChunks(f1!)).map((c) => c.id)).to.deep.equal(['f1.0']);
      expect((await files.listChunks(f10!)).map((c) => c.id)).to.deep.equal(['f10.0']);
      expect((await files.readChunk((await files.listChunks(f10!))[0]!))?.toString()).to.equal('b');
    });

    it('When a file is not READY, then findForAgent does not return it', async function () {
      const files = store().deliveryFiles;
      await files.create(ENDPOINT, 'pending', fileMeta(4, ['agent-a'], { Status: 'AWAITING_UPLOAD' }));
      expect(await files.findForAgent('pending', 'agent-a')).to.equal(undefined);
    });

    it('When a file id is created twice on a shelf, then the second fails with DocumentConflictError', async function () {
      const files = store().deliveryFiles;
      await files.create(ENDPOINT, 'dup', fileMeta(4, ['agent-a']));
      let caught: unknown;
      await files.create(ENDPOINT, 'dup', fileMeta(8, ['agent-a'])).catch((err: unknown) => (caught = err));
      expect(caught).to.be.instanceOf(DocumentConflictError);
      expect((await files.findForAgent('dup', 'agent-a'))?.meta.file.size).to.equal(4);
    });

    it('When a chunk is put again at the same position, then it replaces the first and no chunk is missing or doubled', async function () {
      const files = store().deliveryFiles;
      await files.create(ENDPOINT, 'again', fileMeta(3, ['agent-a']));
      await files.putChunk(ENDPOINT, 'again', 0, { data: Buffer.from('old'), last: true });
      await files.putChunk(ENDPOINT, 'again', 0, { data: Buffer.from('new'), last: true });
      const chunks = await files.listChunks((await files.findForAgent('again', 'agent-a'))!);
      expect(chunks).to.have.length(1);
      expect((await files.readChunk(chunks[0]!))?.toString()).to.equal('new');
    });

    it('When nothing was ever stored, then lookups answer undefined and a file without chunks lists none', async function () {
      const files = store().deliveryFiles;
      expect(await files.findForAgent('none', 'agent-a')).to.equal(undefined);
      await files.create(ENDPOINT, 'empty', fileMeta(4, ['agent-a']));
      const file = (await files.findForAgent('empty', 'agent-a'))!;
      expect(await files.listChunks(file)).to.deep.equal([]);
      expect(await files.readChunk({ id: 'empty.0', index: '.fleet-fileds-tohost-data-endpoint', pos: 0, last: true })).to.equal(undefined);
    });

    it('When a file is in an integration library, then findInLibrary returns it from that library only, whatever its targets', async function () {
      if (store().backend === 'elasticsearch') {
        // The elastic/fleet-server service account has no privileges on `.<integration>-fleetfiles-*`
        // (the test node grants none); the SQLite backend proves the shelf's behaviour.
        this.skip();
      }
      const files = store().deliveryFiles;
      const shelf: FileShelf = { kind: 'library', integration: 'endpoint', library: 'archive' };
      await files.create(shelf, 'lib-1', fileMeta(2, []));
      await files.putChunk(shelf, 'lib-1', 0, { data: Buffer.from('ok'), last: true });
      const found = await files.findInLibrary('lib-1', 'endpoint', 'archive');
      expect(found?.dataIndex).to.equal('.endpoint-fleetfiles-archive-data');
      expect(await files.findInLibrary('lib-1', 'endpoint', 'other')).to.equal(undefined);
      expect(await files.findInLibrary('lib-2', 'endpoint', 'archive')).to.equal(undefined);
      expect(await files.findForAgent('lib-1', 'agent-a')).to.equal(undefined);
      const chunks = await files.listChunks(found!);
      expect((await files.readChunk(chunks[0]!))?.toString()).to.equal('ok');
    });
  });

  describe('artifacts', function () {
    it('When an artifact is put, then get finds it by identifier and decoded sha256 only, and a second put replaces it', async function () {
      const artifacts = store().artifacts;
      const doc = artifactDoc('endpoint-exceptionlist-linux-v1', Buffer.from('artifact bytes'));
      expect(await artifacts.get(doc.identifier, doc.decoded_sha256)).to.equal(undefined);
      await artifacts.put(doc);
      expect(await artifacts.get(doc.identifier, doc.decoded_sha256)).to.deep.equal(doc);
      expect(await artifacts.get('endpoint-exceptionlist-windows-v1', doc.decoded_sha256)).to.equal(undefined);
      expect(await artifacts.get(doc.identifier, '0'.repeat(64))).to.equal(undefined);
      await artifacts.put({ ...doc, created: '2025-06-02T00:00:00.000Z' });
      expect((await artifacts.get(doc.identifier, doc.decoded_sha256))?.created).to.equal('2025-06-02T00:00:00.000Z');
    });
  });
}
