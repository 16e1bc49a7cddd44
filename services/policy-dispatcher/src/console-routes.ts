import { InputError, MethodNotAllowedError, RouteNotFoundError, ServiceUnavailableError, errorHandler, type Logger } from '@fleet/service-kit';
import { Router, type Request, type Response } from 'express';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Where the console lives (Kibana's path); its built assets are served below it. */
export const CONSOLE_BASE = '/app/fleet';
/** The placeholder in the built index.html that each response replaces with its own nonce. */
export const NONCE_PLACEHOLDER = '__CSP_NONCE__';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const MAX_FILES = 10_000;
const MAX_DEPTH = 6;
const MAX_PATH = 1_024;
/** How often (at most) a request checks whether dist/ was rebuilt. */
const RECHECK_MS = 1_000;
const ALLOWED_METHODS = ['GET', 'HEAD'] as const;

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The console's Content-Security-Policy: scripts only from this origin (no inline script at all),
 * styles from this origin or carrying this response's nonce (Emotion, EUI's CSS-in-JS, and
 * CodeMirror tag the style elements they inject with it), API calls to this origin only.
 */
export function consoleCsp(nonce?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self'${nonce ? ` 'nonce-${nonce}'` : ''}`,
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The files of a built console: URL path (relative to CONSOLE_BASE, no leading slash) → file. */
interface ConsoleBundle {
  /** index.html split at the nonce placeholder. */
  indexParts: string[];
  indexMtimeMs: number;
  files: Map<string, { file: string; size: number }>;
}

/** Where `npm run build:console` puts the console: libs/console/dist, found through the workspace package. */
export function defaultConsoleDistDir(): string | undefined {
  try {
    return join(dirname(require.resolve('@fleet/console/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

/**
 * Serves the built console under /app/fleet/ (only GET and HEAD):
 * - a file of dist/ is served as it is: hashed assets (assets/*) cached for good, a gzip variant
 *   built beside it (`.gz`) served to browsers that take it;
 * - any other path is a page of the single-page app: index.html, with a fresh CSP nonce per
 *   response, never cached; `/app/fleet` redirects to `/app/fleet/`;
 * - a path that would leave dist/ (`..`, encoded slashes or backslashes) is refused. Files are only
 *   ever looked up in the list of dist/'s files made when it was read: no file path is built
 *   from the request.
 * Without a built console the pages answer 503 saying how to build it. The list is read again
 * when index.html changes (a rebuild while the server runs).
 */
export function consoleRoutes(deps: { logger: Logger; distDir?: string }): Router {
  const distDir = deps.distDir ?? defaultConsoleDistDir();
  const logger = deps.logger.child({ component: 'console' });
  let bundle: ConsoleBundle | undefined;
  let checkedAt = 0;
  let warned = false;
  if (!distDir) logger.warn('the @fleet/console package is not installed: the console answers 503');
  let loading: Promise<ConsoleBundle | undefined> | undefined;

  const current = async (): Promise<ConsoleBundle | undefined> => {
    if (!distDir || Date.now() - checkedAt < RECHECK_MS) return bundle;
    const dir = distDir;
    loading ??= (async () => {
      try {
        const mtime = await stat(join(dir, 'index.html')).then((s) => s.mtimeMs, () => undefined);
        if (mtime === undefined) {
          bundle = undefined;
          // Where it was looked for goes to the log, not to whoever asked.
          if (!warned) logger.warn({ dir }, 'the console is not built: run `npm run build:console`');
          warned = true;
        } else if (!bundle || bundle.indexMtimeMs !== mtime) {
          bundle = await readBundle(dir, mtime);
          logger.info({ dir, files: bundle.files.size }, 'console assets loaded');
        }
        checkedAt = Date.now();
        return bundle;
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  };

  const router = Router();
  router.use(CONSOLE_BASE, async (req, res) => {
    res.setHeader('Content-Security-Policy', consoleCsp());
    if (!(ALLOWED_METHODS as readonly string[]).includes(req.method)) {
      res.setHeader('Allow', ALLOWED_METHODS.join(', '));
      throw new MethodNotAllowedError(req.method, ALLOWED_METHODS);
    }
    // The path exactly as sent (a URL parser would resolve `..` before it could be refused).
    const q = req.originalUrl.indexOf('?');
    const pathname = q < 0 ? req.originalUrl : req.originalUrl.slice(0, q);
    if (pathname === CONSOLE_BASE) {
      res.redirect(302, `${CONSOLE_BASE}/${q < 0 ? '' : req.originalUrl.slice(q)}`);
      return;
    }
    const rel = consolePath(pathname);
    const found = await current();
    if (!found) throw new ServiceUnavailableError('the console is not built: run `npm run build:console`');
    // Dot files (.source-hash) are the build's own, never served.
    if (rel.split('/').some((s) => s.startsWith('.'))) throw new RouteNotFoundError(pathname);
    const file = found.files.get(rel);
    if (file) return sendFile(req, res, rel, file, found);
    // A missing asset is a 404, not the app's page: a stale chunk must fail loudly in the browser.
    if (rel.startsWith('assets/') || isStaticName(rel)) throw new RouteNotFoundError(pathname);
    sendIndex(req, res, found);
  });
  router.use(CONSOLE_BASE, errorHandler('kibana'));
  return router;
}

/** The path below /app/fleet/, decoded and checked: nothing that could name a file outside dist/. */
export function consolePath(pathname: string): string {
  if (pathname.length > MAX_PATH) throw new InputError(`console path longer than ${MAX_PATH} characters`);
  if (!pathname.startsWith(`${CONSOLE_BASE}/`)) throw new InputError('console path outside the console');
  const raw = pathname.slice(CONSOLE_BASE.length + 1);
  // An encoded slash or backslash would make one segment two after decoding.
  if (/%2f|%5c/i.test(raw)) throw new InputError('console path with an encoded slash');
  const decoded = decodeURIComponent(raw);
  const segments = decoded.split('/');
  if (decoded.includes('\\') || decoded.includes('\0') || segments.some((s) => s === '..' || s === '.')) {
    throw new InputError('console path leaving the console');
  }
  return decoded;
}

/** A file name at the top level that is meant to be a file (favicon.ico, robots.txt), never a page. */
function isStaticName(rel: string): boolean {
  return !rel.includes('/') && extname(rel) in CONTENT_TYPES;
}

function sendIndex(req: Request, res: Response, bundle: ConsoleBundle): void {
  const nonce = randomBytes(18).toString('base64');
  const body = Buffer.from(bundle.indexParts.join(nonce), 'utf8');
  res.setHeader('Content-Security-Policy', consoleCsp(nonce));
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Length', String(body.length));
  res.status(200);
  if (req.method === 'HEAD') res.end();
  else res.end(body);
}

async function sendFile(req: Request, res: Response, rel: string, file: { file: string; size: number }, bundle: ConsoleBundle): Promise<void> {
  const gz = bundle.files.get(`${rel}.gz`);
  let chosen = file;
  if (gz) {
    res.setHeader('Vary', 'Accept-Encoding');
    if (acceptsGzip(req.headers['accept-encoding'])) {
      chosen = gz;
      res.setHeader('Content-Encoding', 'gzip');
    }
  }
  res.setHeader('Content-Type', CONTENT_TYPES[extname(rel)] ?? 'application/octet-stream');
  res.setHeader('Content-Length', String(chosen.size));
  res.setHeader('Cache-Control', rel.startsWith('assets/') ? IMMUTABLE : 'no-cache');
  res.status(200);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  try {
    await pipeline(createReadStream(chosen.file), res);
  } catch (err) {
    // The browser went away mid-file (a navigation): nothing to answer. A read failure once the
    // headers are out can only end the response.
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    req.log?.warn({ err, file: rel }, 'console asset not sent');
    res.destroy();
  }
}

/** Whether an Accept-Encoding header takes gzip (and does not refuse it with q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header || header.length > 256) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().split(';').map((s) => s.trim());
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.find((p) => p.startsWith('q='));
    return !q || Number(q.slice(2)) > 0;
  });
}

/** Reads dist/: index.html (split at the nonce placeholder) and the list of its files (bounded). */
async function readBundle(distDir: string, indexMtimeMs: number): Promise<ConsoleBundle> {
  const index = await readFile(join(distDir, 'index.html'), 'utf8');
  const files = new Map<string, { file: string; size: number }>();
  const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) return;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      // Dot files (.source-hash) are the build's own; index.html is only ever served as a page.
      if (entry.name.startsWith('.') || (depth === 0 && entry.name === 'index.html')) continue;
      const file = join(dir, entry.name);
      const rel = `${prefix}${entry.name}`;
      if (entry.isDirectory()) await walk(file, `${rel}/`, depth + 1);
      else if (entry.isFile()) {
        if (files.size >= MAX_FILES) throw new Error(`the console's dist has more than ${MAX_FILES} files: ${distDir}`);
        files.set(rel, { file, size: (await stat(file)).size });
      }
    }
  };
  await walk(distDir.endsWith(sep) ? distDir.slice(0, -1) : distDir, '', 0);
  return { indexParts: index.split(NONCE_PLACEHOLDER), indexMtimeMs, files };
}
