import { expect } from 'chai';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKeyFile, SqliteFleetStore } from '@fleet/store';
import { defineSecretStoreContract } from './secret-store-contract';

describe('SqliteFleetStore secrets', function () {
  const dirs: string[] = [];
  const stores: SqliteFleetStore[] = [];
  const newDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-secrets-'));
    dirs.push(dir);
    return dir;
  };
  const open = (path: string, opts: Partial<ConstructorParameters<typeof SqliteFleetStore>[0]> = {}): SqliteFleetStore => {
    const store = new SqliteFleetStore({ path, ...opts });
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  defineSecretStoreContract('sqlite', () => Promise.resolve(new SqliteFleetStore({ path: join(newDir(), 'fleet.db') })));

  it('When a secret is stored, then neither the database file nor its WAL holds its plaintext, and the key file beside it is 0600', async () => {
    const dir = newDir();
    const path = join(dir, 'fleet.db');
    const store = open(path);
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    const id = await store.secrets.create(canary);
    expect((await store.secrets.get([id])).get(id)).to.equal(canary);
    const files = [path, `${path}-wal`].filter((f) => existsSync(f));
    expect(files).to.include(`${path}-wal`);
    for (const file of files) {
      const bytes = readFileSync(file);
      expect(bytes.includes(Buffer.from(canary, 'utf8')), file).to.equal(false);
      expect(bytes.includes(Buffer.from(canary, 'utf16le')), file).to.equal(false);
    }
    // Once checkpointed into the main file too.
    await store.close();
    const raw = new Database(path);
    raw.pragma('wal_checkpoint(TRUNCATE)');
    const row = raw.prepare('SELECT key_id, sealed FROM secrets WHERE id = ?').get(id) as { key_id: string; sealed: Buffer };
    raw.close();
    expect(readFileSync(path).includes(Buffer.from(canary, 'utf8'))).to.equal(false);
    expect(row.sealed.length).to.equal(12 + 16 + Buffer.byteLength(canary));
    expect(row.key_id).to.match(/^[0-9a-f]{16}$/);
    expect(statSync(join(dir, 'secrets.key')).mode & 0o777).to.equal(0o600);
    // The same key file opens it again after a restart.
    const reopened = open(path);
    expect((await reopened.secrets.get([id])).get(id)).to.equal(canary);
  });

  it('When a sealed value is moved onto another id, or the key is another, then it does not open (reported missing)', async () => {
    const dir = newDir();
    const path = join(dir, 'fleet.db');
    const store = open(path);
    const a = await store.secrets.create('value-a');
    const b = await store.secrets.create('value-b');
    await store.close();
    const raw = new Database(path);
    raw.prepare('UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE id = ?) WHERE id = ?').run(a, b);
    raw.close();
    const again = open(path);
    expect([...(await again.secrets.get([a, b])).keys()]).to.deep.equal([a]);
    await again.close();
    const otherKey = open(path, { secretKeys: { current: randomBytes(32) } });
    expect((await otherKey.secrets.get([a, b])).size).to.equal(0);
    expect(otherKey.secretKeyRotation).to.deep.equal({ reencrypted: 0, unreadable: 2 });
  });

  it('When the key is rotated (previous key given), then every secret is re-encrypted with the new key at start and the old key is no longer needed', async () => {
    const dir = newDir();
    const path = join(dir, 'fleet.db');
    const store = open(path);
    const ids = await Promise.all(['one', 'two', 'three'].map((v) => store.secrets.create(v)));
    await store.close();
    // The operator's steps: the old key becomes the previous one, a new key is created.
    copyFileSync(join(dir, 'secrets.key'), join(dir, 'secrets.key.previous'));
    rmSync(join(dir, 'secrets.key'));
    const previous = loadKeyFile(join(dir, 'secrets.key.previous'));
    const current = loadKeyFile(join(dir, 'secrets.key'));
    expect(current.equals(previous)).to.equal(false);
    const rotated = open(path, { secretKeys: { current, previous } });
    expect(rotated.secretKeyRotation).to.deep.equal({ reencrypted: 3, unreadable: 0 });
    expect([...(await rotated.secrets.get(ids)).values()].sort()).to.deep.equal(['one', 'three', 'two']);
    const created = await rotated.secrets.create('four');
    await rotated.close();
    // Without the previous key: everything opens with the new key alone.
    const after = open(path, { secretKeys: { current } });
    expect(after.secretKeyRotation).to.deep.equal({ reencrypted: 0, unreadable: 0 });
    expect([...(await after.secrets.get([...ids, created])).values()].sort()).to.deep.equal(['four', 'one', 'three', 'two']);
    await after.close();
    // The same key given as both: nothing to re-encrypt.
    const same = open(path, { secretKeys: { current, previous: current } });
    expect(same.secretKeyRotation).to.deep.equal({ reencrypted: 0, unreadable: 0 });
    await same.close();
    // And the previous key alone opens nothing any more.
    const old = open(path, { secretKeys: { current: previous } });
    expect((await old.secrets.get(ids)).size).to.equal(0);
  });
});
