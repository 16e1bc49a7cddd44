/// <reference lib="dom" />
import { FleetAgentClient, FleetApiError } from '@fleet/agent-protocol';
import { createHash, X509Certificate } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { buildConsole, defaultCacheDir, viteBuild } from '../../../../libs/console/scripts/build-console';
import { ackAll, HEALTHY_COMPONENTS, localMetadata, sleep, startHarness, type Harness } from './fleet-server-harness';

const repoRoot = resolve(__dirname, '../../../..');
const consoleDir = join(repoRoot, 'libs/console');

/** `[data-test-subj="id"]`: the console's test ids (docs: /work/briefs/console-contract.md, docs/console.md). */
export const subj = (id: string): string => `[data-test-subj="${id}"]`;

/**
 * Makes sure libs/console/dist is the build of the current sources: instant when it is, a copy
 * from the build cache or a Vite build (minutes) when it is not (npm test builds it first).
 */
export async function ensureConsoleBuilt(): Promise<void> {
  await buildConsole({ consoleDir, lockFile: join(repoRoot, 'package-lock.json'), cacheDir: defaultCacheDir(), build: viteBuild, log: () => undefined });
}

export interface ConsoleServer {
  harness: Harness;
  /** https://localhost:<port>: the name the generated certificate is for. */
  origin: string;
  /** An https.Agent that trusts the server's generated CA (for agent clients and supertest). */
  httpsAgent: HttpsAgent;
  caPem: string;
  /** SHA-256 of the server certificate's public key (base64), for Chromium's SPKI allow-list. */
  spki: string;
  stop(): Promise<void>;
}

/**
 * The all-in-one server as it runs by default: HTTPS on its own generated CA (so the session
 * cookie is Secure, as in production), on a free loopback port, SQLite store.
 */
export async function startConsoleServer(overrides: Record<string, unknown> = {}): Promise<ConsoleServer> {
  await ensureConsoleBuilt();
  const harness = await startHarness(merge({ http: { tls: { mode: 'auto' } } }, overrides));
  const caPem = readFileSync(harness.server.caFile!, 'utf8');
  const certPem = readFileSync(join(harness.dataDir, 'tls', 'server.crt'), 'utf8');
  const spki = createHash('sha256')
    .update(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  const httpsAgent = new HttpsAgent({ keepAlive: true, ca: caPem, maxSockets: 256 });
  return {
    harness,
    origin: `https://localhost:${harness.server.port}`,
    httpsAgent,
    caPem,
    spki,
    async stop() {
      httpsAgent.destroy();
      await harness.stop();
    },
  };
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' ? merge(prev as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/**
 * Headless Chromium (Debian's, never a downloaded one). The server's certificate is from its own
 * CA, which Chromium does not know: instead of turning certificate checks off, the one key of this
 * server certificate is allowed (`--ignore-certificate-errors-spki-list`), so the page is a secure
 * context and Secure cookies work as in production.
 */
export async function launchBrowser(server: ConsoleServer): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${server.spki}`, '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
}

/** What went wrong in the page: console errors, uncaught exceptions, CSP violations, 5xx answers. */
export interface PageProblems {
  errors: string[];
  cspViolations: string[];
}

export interface ConsolePage {
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
  /** The page's URL under the console: `/agents` → https://localhost:port/app/fleet/agents. */
  url(path: string): string;
  by(id: string): Locator;
  /** Fails when the page logged an error or a CSP violation since the last call; clears the lists. */
  assertNoProblems(): void;
  close(): Promise<void>;
}

/**
 * A fresh browser context (own cookies and storage) with one page, collecting what goes wrong:
 * console errors, uncaught exceptions, CSP violations (`securitypolicyviolation` events, reported
 * by a listener installed through the DevTools protocol rather than a script element, so the
 * page's CSP stays as served) and server errors. Failed loads answered 4xx are the API's refusals,
 * which some tests expect; they are not counted.
 */
export async function openConsolePage(browser: Browser, server: ConsoleServer): Promise<ConsolePage> {
  const context = await browser.newContext({ colorScheme: 'light', viewport: { width: 1440, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems: PageProblems = { errors: [], cspViolations: [] };
  await page.exposeBinding('__fleetCspViolation', (_source, v: string) => {
    problems.cspViolations.push(v);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      void (window as unknown as { __fleetCspViolation: (v: string) => Promise<void> }).__fleetCspViolation(
        `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber}) ${e.sample}`,
      );
    });
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (/Content Security Policy/i.test(text)) problems.cspViolations.push(text);
    // "Failed to load resource: ... 4xx": a refusal the test asked for; 5xx are caught below.
    else if (!/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) problems.errors.push(text);
  });
  page.on('pageerror', (err) => problems.errors.push(`uncaught: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 500) problems.errors.push(`${res.status()} ${res.request().method()} ${res.url()}`);
  });
  return {
    context,
    page,
    problems,
    url: (path) => `${server.origin}/app/fleet${path.startsWith('/') ? path : `/${path}`}`,
    by: (id) => page.locator(subj(id)),
    assertNoProblems() {
      const found = [...problems.errors.map((e) => `error: ${e}`), ...problems.cspViolations.map((v) => `CSP violation: ${v}`)];
      problems.errors.length = 0;
      problems.cspViolations.length = 0;
      if (found.length > 0) throw new Error(`the page had problems:\n${found.join('\n')}`);
    },
    close: () => context.close(),
  };
}

/** Signs in through the login page with a token, and waits for the signed-in layout. */
export async function signIn(cp: ConsolePage, token: string, path = '/'): Promise<void> {
  await cp.page.goto(cp.url(path));
  await cp.by('loginTokenInput').fill(token);
  await cp.by('loginSubmit').click();
  await cp.by('signOutButton').waitFor();
}

const axeSource = (): string => readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * Runs axe-core on the page and fails on serious or critical violations. axe's source is
 * evaluated through the DevTools protocol (page.evaluate), not added as a script element: the
 * console's CSP allows no such script, and stays on.
 */
export async function assertAccessible(page: Page, label: string): Promise<AxeViolation[]> {
  await page.evaluate(axeSource());
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target)) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length > 0) {
    throw new Error(`accessibility violations on ${label}:\n${bad.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.join(', ')}`).join('\n')}`);
  }
  return violations;
}

let screenshotDir: string | undefined;
/** Where screenshots go: FLEET_CONSOLE_SCREENSHOT_DIR (docs/console for docs/console.md), else a temp dir. */
export function screenshotsDir(): string {
  screenshotDir ??= process.env.FLEET_CONSOLE_SCREENSHOT_DIR ? resolve(process.env.FLEET_CONSOLE_SCREENSHOT_DIR) : mkdtempSync(join(tmpdir(), 'fleet-console-shots-'));
  mkdirSync(screenshotDir, { recursive: true });
  return screenshotDir;
}

/** A PNG of the page (the viewport) named `<name>.png`; its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file = join(screenshotsDir(), `${name}.png`);
  await page.screenshot({ path: file, animations: 'disabled' });
  return file;
}

export interface AgentFleet {
  agents: FleetAgentClient[];
  /** Agents whose loop ended because the server unenrolled them (401 on checkin, or an UNENROLL action). */
  gone: Set<string>;
  errors: string[];
  /**
   * From now on, agent `i` waits `delayOf(i)` ms before it acknowledges what it is sent (a fleet
   * that takes its time, so a rollout can be watched on its way); undefined acks at once again.
   */
  setAckDelay(delayOf: ((index: number) => number) | undefined): void;
  /** Ends every loop (open long polls aborted) and waits for them. */
  stop(): Promise<void>;
}

/**
 * `count` agents enrolled with `enrollmentToken` (the project's agent client, over HTTPS with the
 * server's CA), each then checking in (healthy, running one filestream input) and acknowledging what
 * it is sent, as elastic-agent does,
 * until stopped or `maxMs` passes (bounded). Enrolled a few at a time.
 */
export async function startAgentFleet(server: ConsoleServer, enrollmentToken: string, count: number, tagsOf: (i: number) => string[], maxMs = 600_000): Promise<AgentFleet> {
  const agents: FleetAgentClient[] = [];
  for (let i = 0; i < count; i += 10) {
    const batch = Array.from({ length: Math.min(10, count - i) }, async (_, j) => {
      const agent = new FleetAgentClient({ url: server.origin, httpAgent: server.httpsAgent });
      await agent.enroll(enrollmentToken, { type: 'PERMANENT', metadata: { local: localMetadata(`e2e-host-${String(i + j).padStart(2, '0')}`), user_provided: {}, tags: tagsOf(i + j) } });
      return agent;
    });
    agents.push(...(await Promise.all(batch)));
  }
  const ctrl = new AbortController();
  // Every agent's open long poll listens on this one signal.
  setMaxListeners(count + 10, ctrl.signal);
  const deadline = Date.now() + maxMs;
  const gone = new Set<string>();
  const errors: string[] = [];
  let ackDelay: ((index: number) => number) | undefined;
  const loop = async (agent: FleetAgentClient, index: number): Promise<void> => {
    while (!ctrl.signal.aborted && Date.now() < deadline) {
      try {
        const res = await agent.checkin({ status: 'online', message: 'Running', components: HEALTHY_COMPONENTS }, { signal: ctrl.signal });
        if ((res.actions ?? []).length > 0) {
          const delay = ackDelay?.(index) ?? 0;
          if (delay > 0) await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
          await ackAll(agent, res);
        }
        if ((res.actions ?? []).some((a) => a.type === 'UNENROLL')) {
          gone.add(agent.agentId!);
          return;
        }
      } catch (err) {
        if (ctrl.signal.aborted) return;
        if (err instanceof FleetApiError && err.status === 401) {
          gone.add(agent.agentId!);
          return;
        }
        if (errors.length < 100) errors.push(err instanceof Error ? err.message : String(err));
        await sleep(500);
      }
    }
  };
  const running = agents.map((a, i) => loop(a, i));
  return {
    agents,
    gone,
    errors,
    setAckDelay(delayOf) {
      ackDelay = delayOf;
    },
    async stop() {
      ctrl.abort();
      await Promise.allSettled(running);
    },
  };
}
