import { expect } from 'chai';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConsole, HASH_FILE, REPORT_FILE, sourceHash, viteBuild } from '../scripts/build-console';

/** A console-shaped project small enough to build with the real Vite in a second or two. */
function makeFixture(root: string): { consoleDir: string; lockFile: string } {
  const consoleDir = join(root, 'console');
  mkdirSync(join(consoleDir, 'src'), { recursive: true });
  writeFileSync(
    join(consoleDir, 'index.html'),
    '<!doctype html><html><head><meta name="csp-nonce" content="__CSP_NONCE__" /><title>t</title></head><body><div id="root"></div><script type="module" src="/src/main.ts"></script></body></html>\n',
  );
  writeFileSync(join(consoleDir, 'src', 'main.ts'), "import './style.css';\ndocument.getElementById('root')!.textContent = 'fleet '.repeat(200);\n");
  writeFileSync(join(consoleDir, 'src', 'style.css'), `${Array.from({ length: 50 }, (_, i) => `.c${i} { color: red; margin: ${i}px; }`).join('\n')}\n`);
  writeFileSync(join(consoleDir, 'vite.config.ts'), "export default { base: '/app/fleet/', logLevel: 'warn' };\n");
  writeFileSync(join(consoleDir, 'package.json'), '{ "name": "console-fixture", "private": true }\n');
  writeFileSync(join(consoleDir, 'tsconfig.json'), '{}\n');
  const lockFile = join(root, 'package-lock.json');
  writeFileSync(lockFile, '{ "lockfileVersion": 3 }\n');
  return { consoleDir, lockFile };
}

describe('Console build cache (npm run build:console)', function () {
  this.timeout(120_000);
  let root: string;
  let consoleDir: string;
  let lockFile: string;
  let cacheDir: string;
  let builds: number;
  const lines: string[] = [];
  const run = () =>
    buildConsole({
      consoleDir,
      lockFile,
      cacheDir,
      build: async (dir, out) => {
        builds += 1;
        await viteBuild(dir, out);
      },
      log: (l) => lines.push(l),
    });

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'fleet-console-build-'));
    ({ consoleDir, lockFile } = makeFixture(root));
    cacheDir = join(root, 'cache');
    builds = 0;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('When nothing was built, then Vite builds dist, stores it in the cache under the inputs hash, and reports the bundle sizes', async () => {
    const r = await run();
    expect(r.outcome).to.equal('built');
    expect(builds).to.equal(1);
    const dist = join(consoleDir, 'dist');
    expect(readFileSync(join(dist, HASH_FILE), 'utf8').trim()).to.equal(r.hash);
    expect(readFileSync(join(cacheDir, r.hash, HASH_FILE), 'utf8').trim()).to.equal(r.hash);
    const report = JSON.parse(readFileSync(join(dist, REPORT_FILE), 'utf8'));
    expect(report).to.deep.equal(r.report);
    expect(report.initial.js.files).to.have.length(1);
    expect(report.initial.css.files).to.have.length(1);
    expect(report.initial.js.gzip).to.be.above(0).and.below(report.initial.js.raw);
    expect(report.total.files).to.equal(2);
    // The compressible assets have a gzip variant for the server to send.
    expect(existsSync(join(dist, `${report.initial.js.files[0]}.gz`))).to.equal(true);
    expect(lines.some((l) => /initial JS .* raw .* gzip/.test(l))).to.equal(true);
    // No staging directory is left behind.
    expect(readdirSync(consoleDir).filter((n) => n.startsWith('.dist-') || n.startsWith('dist.old-'))).to.deep.equal([]);
  });

  it('When the inputs did not change, then nothing is built', async () => {
    const before = readFileSync(join(consoleDir, 'dist', 'index.html'), 'utf8');
    const r = await run();
    expect(r.outcome).to.equal('up-to-date');
    expect(builds).to.equal(1);
    expect(readFileSync(join(consoleDir, 'dist', 'index.html'), 'utf8')).to.equal(before);
  });

  it('When dist is missing (a fresh clone) at another path, then the cached build is restored instead of built', async () => {
    const clone = join(root, 'clone', 'console');
    cpSync(consoleDir, clone, { recursive: true, filter: (src) => !src.includes(`${join(consoleDir, 'dist')}`) });
    const cloneLock = join(root, 'clone', 'package-lock.json');
    cpSync(lockFile, cloneLock);
    expect(existsSync(join(clone, 'dist'))).to.equal(false);
    expect(sourceHash(clone, cloneLock)).to.equal(sourceHash(consoleDir, lockFile));
    const r = await buildConsole({ consoleDir: clone, lockFile: cloneLock, cacheDir, build: () => Promise.reject(new Error('must not build')), log: () => undefined });
    expect(r.outcome).to.equal('restored');
    expect(readFileSync(join(clone, 'dist', 'index.html'), 'utf8')).to.equal(readFileSync(join(consoleDir, 'dist', 'index.html'), 'utf8'));
    expect(r.report.initial.js.files).to.deep.equal(JSON.parse(readFileSync(join(consoleDir, 'dist', REPORT_FILE), 'utf8')).initial.js.files);
  });

  it('When a source file or the lock file changes, then the hash changes and Vite builds again', async () => {
    const first = sourceHash(consoleDir, lockFile);
    writeFileSync(join(consoleDir, 'src', 'extra.ts'), 'export const x = 1;\n');
    const second = sourceHash(consoleDir, lockFile);
    expect(second).to.not.equal(first);
    writeFileSync(lockFile, '{ "lockfileVersion": 3, "packages": {} }\n');
    const third = sourceHash(consoleDir, lockFile);
    expect(third).to.not.equal(second);
    const r = await run();
    expect(r).to.include({ outcome: 'built', hash: third });
    expect(builds).to.equal(2);
  });

  it('When the build fails, then dist keeps the last good build and no staging directory is left', async () => {
    const good = readFileSync(join(consoleDir, 'dist', HASH_FILE), 'utf8');
    writeFileSync(join(consoleDir, 'src', 'main.ts'), "import './does-not-exist';\n");
    let failure: unknown;
    await run().catch((err: unknown) => (failure = err));
    expect(String(failure)).to.match(/vite build failed/);
    expect(readFileSync(join(consoleDir, 'dist', HASH_FILE), 'utf8')).to.equal(good);
    expect(readdirSync(consoleDir).filter((n) => n.startsWith('.dist-'))).to.deep.equal([]);
  });

  it('When many builds are cached, then only the newest five are kept', async () => {
    for (let i = 0; i < 6; i++) {
      const old = join(cacheDir, `${String(i).repeat(64)}`);
      mkdirSync(old, { recursive: true });
      const t = new Date(Date.now() - (i + 1) * 86_400_000);
      utimesSync(old, t, t);
    }
    writeFileSync(join(consoleDir, 'src', 'main.ts'), "document.title = 'fleet';\n");
    const r = await run();
    expect(r.outcome).to.equal('built');
    const kept = readdirSync(cacheDir).filter((n) => /^[0-9a-f]{64}$/.test(n));
    expect(kept).to.have.length(5);
    expect(kept).to.include(r.hash);
    expect(kept).to.not.include('5'.repeat(64));
  });
});
