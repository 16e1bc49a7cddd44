import { openStore } from '@fleet/runtime';
import { createLogger, loadConfig, storeSchema, type StoreConfig } from '@fleet/service-kit';
import type { SqliteFleetStore } from '@fleet/store';
import { expect } from 'chai';
import { mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

/** The operator's rotation, through the settings and the process's store opening (docs/secrets.md). */
describe('Policy secrets key rotation (SQLite, through the settings)', function () {
  let dir: string;
  const lines: Record<string, unknown>[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
  const logger = createLogger({ name: 'test', level: 'info' }, sink);
  const settings = (sqlite: Record<string, string> = {}): StoreConfig =>
    loadConfig({ store: storeSchema }, { env: {}, overrides: { store: { backend: 'sqlite', sqlite: { path: join(dir, 'fleet.db'), ...sqlite } } } }).store;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-rotation-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('When the key is moved aside and given as the previous one, then the secrets are re-encrypted at start, logged, and open with the new key alone', async () => {
    const first = (await openStore(settings(), logger)) as SqliteFleetStore;
    const ids = [await first.secrets.create('alpha'), await first.secrets.create('beta')];
    await first.close();
    expect(statSync(join(dir, 'secrets.key')).mode & 0o777).to.equal(0o600);

    renameSync(join(dir, 'secrets.key'), join(dir, 'secrets.key.previous'));
    const rotated = (await openStore(settings({ secretsPreviousKeyFile: join(dir, 'secrets.key.previous') }), logger)) as SqliteFleetStore;
    expect([...(await rotated.secrets.get(ids)).values()].sort()).to.deep.equal(['alpha', 'beta']);
    await rotated.close();
    const report = lines.find((l) => l.msg === 'policy secrets re-encrypted with the current key; the previous key file is no longer needed');
    expect(report).to.include({ reencrypted: 2, unreadable: 0 });

    rmSync(join(dir, 'secrets.key.previous'));
    const after = (await openStore(settings(), logger)) as SqliteFleetStore;
    expect([...(await after.secrets.get(ids)).values()].sort()).to.deep.equal(['alpha', 'beta']);
    await after.close();
  });

  it('When the key file is lost, then the secrets are reported unreadable at start (a warning with the count), never opened', async () => {
    rmSync(join(dir, 'secrets.key'));
    const store = (await openStore(settings(), logger)) as SqliteFleetStore;
    try {
      const warning = lines.find((l) => l.level === 'warn' && typeof l.msg === 'string' && l.msg.startsWith('policy secrets sealed with a key that is not configured'));
      expect(warning).to.include({ reencrypted: 0, unreadable: 2 });
    } finally {
      await store.close();
    }
  });
});
