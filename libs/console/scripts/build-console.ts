/**
 * `npm run build:console`: builds the console into libs/console/dist only when its inputs changed.
 *
 * The inputs (src/**, index.html, vite.config.ts, package.json, tsconfig.json, the root
 * package-lock.json and this script) are hashed. When dist/.source-hash names that hash, nothing
 * is done. Otherwise a build of the same inputs kept in the cache (~/.cache/fleet-console/<hash>/,
 * or $FLEET_CONSOLE_CACHE_DIR) is copied into dist, so a fresh clone (CI) reuses an earlier build;
 * failing that, `vite build` runs and its result is stored there. A build is made in a temporary
 * directory and swapped into dist, so a running server never serves half a build.
 *
 * Every run prints the bundle size report (initial JS and CSS, raw and gzip; all assets) and
 * writes it to dist/bundle-report.json. Hashed assets get a gzip variant beside them (`.gz`),
 * which the server sends to browsers that take gzip.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

export const HASH_FILE = '.source-hash';
export const REPORT_FILE = 'bundle-report.json';
/** Top-level inputs of the build besides src/** (those present are hashed). */
const INPUT_FILES = ['index.html', 'vite.config.ts', 'package.json', 'tsconfig.json'];
const MAX_SOURCE_FILES = 5_000;
/** Builds kept in the cache; older ones are removed. */
const KEEP_CACHED = 5;
const GZIP_EXTENSIONS = new Set(['.js', '.mjs', '.css', '.svg', '.json', '.map', '.txt']);

export interface AssetSize {
  file: string;
  raw: number;
  gzip: number;
}

export interface BundleReport {
  hash: string;
  initial: { js: { files: string[]; raw: number; gzip: number }; css: { files: string[]; raw: number; gzip: number } };
  total: { files: number; raw: number; gzip: number };
  largest: AssetSize[];
}

export interface ConsoleBuildOptions {
  /** libs/console */
  consoleDir: string;
  /** The root package-lock.json (the exact versions the bundle is made of). */
  lockFile: string;
  /** Where builds are kept by hash. */
  cacheDir: string;
  /** Builds the console into `outDir` (`vite build --outDir`). */
  build: (consoleDir: string, outDir: string) => Promise<void>;
  log: (line: string) => void;
}

export type BuildOutcome = 'up-to-date' | 'restored' | 'built';

/** SHA-256 over the console's inputs: each file's path relative to the console, its size and bytes. */
export function sourceHash(consoleDir: string, lockFile: string): string {
  const files = [...listFiles(join(consoleDir, 'src'), MAX_SOURCE_FILES), ...INPUT_FILES.map((f) => join(consoleDir, f)).filter((f) => existsSync(f))];
  const hash = createHash('sha256');
  const add = (name: string, path: string) => {
    const bytes = readFileSync(path);
    hash.update(`${name}\0${bytes.length}\0`).update(bytes);
  };
  for (const file of files.sort()) add(relative(consoleDir, file).split(sep).join('/'), file);
  add('package-lock.json', lockFile);
  add('build-console.ts', __filename);
  return hash.digest('hex');
}

/** Up to date, restored from the cache, or built (and cached): dist/ matches the inputs after this. */
export async function buildConsole(opts: ConsoleBuildOptions): Promise<{ outcome: BuildOutcome; hash: string; report: BundleReport }> {
  const hash = sourceHash(opts.consoleDir, opts.lockFile);
  const dist = join(opts.consoleDir, 'dist');
  let outcome: BuildOutcome;
  if (builtFrom(dist) === hash) {
    outcome = 'up-to-date';
  } else {
    const cached = join(opts.cacheDir, hash);
    const staging = join(opts.consoleDir, `.dist-${process.pid}-${Date.now()}`);
    try {
      if (builtFrom(cached) === hash) {
        cpSync(cached, staging, { recursive: true });
        outcome = 'restored';
      } else {
        await opts.build(opts.consoleDir, staging);
        if (!existsSync(join(staging, 'index.html'))) throw new Error(`the console build wrote no index.html into ${staging}`);
        writeGzipVariants(staging);
        writeFileSync(join(staging, HASH_FILE), `${hash}\n`);
        writeFileSync(join(staging, REPORT_FILE), `${JSON.stringify(bundleReport(staging, hash), null, 2)}\n`);
        storeInCache(staging, opts.cacheDir, hash);
        outcome = 'built';
      }
      swapInto(staging, dist);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  const report = existsSync(join(dist, REPORT_FILE)) ? (JSON.parse(readFileSync(join(dist, REPORT_FILE), 'utf8')) as BundleReport) : bundleReport(dist, hash);
  const where = outcome === 'restored' ? ` from ${join(opts.cacheDir, hash)}` : outcome === 'built' ? ` (cached in ${join(opts.cacheDir, hash)})` : '';
  opts.log(`console ${outcome}${where}: ${hash.slice(0, 12)}`);
  for (const line of formatReport(report)) opts.log(line);
  return { outcome, hash, report };
}

/** The hash a dist directory (or cache entry) was built from, if it is complete. */
function builtFrom(dir: string): string | undefined {
  const file = join(dir, HASH_FILE);
  if (!existsSync(file) || !existsSync(join(dir, 'index.html'))) return undefined;
  return readFileSync(file, 'utf8').trim();
}

/** Copies a build into the cache under its hash (atomically: a reader never sees half), and prunes old ones. */
function storeInCache(build: string, cacheDir: string, hash: string): void {
  mkdirSync(cacheDir, { recursive: true });
  const target = join(cacheDir, hash);
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(build, tmp, { recursive: true });
  rmSync(target, { recursive: true, force: true });
  renameSync(tmp, target);
  const entries = readdirSync(cacheDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^[0-9a-f]{64}$/.test(e.name))
    .map((e) => ({ dir: join(cacheDir, e.name), mtime: statSync(join(cacheDir, e.name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const old of entries.slice(KEEP_CACHED)) rmSync(old.dir, { recursive: true, force: true });
}

/** Replaces dist with the staged build: two renames, so the old build is served until the new one is whole. */
function swapInto(staging: string, dist: string): void {
  const old = `${dist}.old-${process.pid}`;
  rmSync(old, { recursive: true, force: true });
  if (existsSync(dist)) renameSync(dist, old);
  renameSync(staging, dist);
  rmSync(old, { recursive: true, force: true });
}

/** A `.gz` beside each compressible asset, when it is smaller (the server picks it by Accept-Encoding). */
function writeGzipVariants(dir: string): void {
  for (const file of listFiles(join(dir, 'assets'), 10_000)) {
    if (!GZIP_EXTENSIONS.has(extension(file))) continue;
    const raw = readFileSync(file);
    const gz = gzipSync(raw, { level: 9 });
    if (gz.length < raw.length) writeFileSync(`${file}.gz`, gz);
  }
}

/** The sizes of the built console: what the first page load fetches (index.html's scripts and styles), and everything. */
export function bundleReport(dir: string, hash: string): BundleReport {
  const sizes = listFiles(join(dir, 'assets'), 10_000)
    .filter((f) => !f.endsWith('.gz'))
    .map((f): AssetSize => {
      const raw = readFileSync(f);
      return { file: relative(dir, f).split(sep).join('/'), raw: raw.length, gzip: gzipSync(raw, { level: 9 }).length };
    });
  const bySize = new Map(sizes.map((s) => [s.file, s]));
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  const referenced = [...html.matchAll(/(?:src|href)="\/app\/fleet\/([^"]+)"/g)].map((m) => m[1]!).filter((f) => bySize.has(f));
  const initial = (ext: string) => {
    const files = [...new Set(referenced.filter((f) => f.endsWith(ext)))];
    return { files, raw: sum(files.map((f) => bySize.get(f)!.raw)), gzip: sum(files.map((f) => bySize.get(f)!.gzip)) };
  };
  return {
    hash,
    initial: { js: initial('.js'), css: initial('.css') },
    total: { files: sizes.length, raw: sum(sizes.map((s) => s.raw)), gzip: sum(sizes.map((s) => s.gzip)) },
    largest: [...sizes].sort((a, b) => b.raw - a.raw).slice(0, 5),
  };
}

export function formatReport(r: BundleReport): string[] {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  return [
    `  initial JS   ${kb(r.initial.js.raw).padStart(12)} raw ${kb(r.initial.js.gzip).padStart(12)} gzip  (${r.initial.js.files.length} files)`,
    `  initial CSS  ${kb(r.initial.css.raw).padStart(12)} raw ${kb(r.initial.css.gzip).padStart(12)} gzip  (${r.initial.css.files.length} files)`,
    `  all assets   ${kb(r.total.raw).padStart(12)} raw ${kb(r.total.gzip).padStart(12)} gzip  (${r.total.files} files)`,
    ...r.largest.map((a) => `    ${a.file}: ${kb(a.raw)} raw, ${kb(a.gzip)} gzip`),
  ];
}

/** Files below `dir` (recursively, sorted; none when it does not exist), at most `max`. */
function listFiles(dir: string, max: number): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        if (out.length >= max) throw new Error(`more than ${max} files below ${dir}`);
        out.push(p);
      }
    }
  };
  walk(dir);
  return out;
}

const extension = (file: string) => {
  const i = file.lastIndexOf('.');
  return i < 0 ? '' : file.slice(i);
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** `vite build --outDir <outDir>` in the console's directory, with the Vite this workspace installed. */
export function viteBuild(consoleDir: string, outDir: string): Promise<void> {
  const vite = join(dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
  return new Promise((resolveBuild, reject) => {
    const child = execFile(process.execPath, [vite, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], { cwd: consoleDir, maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`vite build failed: ${err.message}\n${stderr.slice(-4_000)}`));
      else resolveBuild();
    });
    child.stdout?.pipe(process.stdout);
  });
}

export function defaultCacheDir(): string {
  return process.env.FLEET_CONSOLE_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'fleet-console');
}

if (require.main === module) {
  const consoleDir = resolve(__dirname, '..');
  buildConsole({
    consoleDir,
    lockFile: resolve(consoleDir, '../../package-lock.json'),
    cacheDir: defaultCacheDir(),
    build: viteBuild,
    log: (line) => process.stdout.write(`${line}\n`),
  }).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
