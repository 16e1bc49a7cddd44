/// <reference lib="dom" />
import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import request from 'supertest';
import { eventually, sleep } from './support/fleet-server-harness';
import {
  assertAccessible,
  launchBrowser,
  openConsolePage,
  screenshot,
  signIn,
  startAgentFleet,
  startConsoleServer,
  type AgentFleet,
  type ConsolePage,
  type ConsoleServer,
} from './support/console-browser';

const AGENTS = 50;
/** Every second agent is a web server, the others databases; all are linux. */
const tagsOf = (i: number) => ['linux', i % 2 === 0 ? 'web' : 'db'];

/**
 * The story, in headless Chromium against the real all-in-one server over HTTPS: an
 * operator signs in, makes a policy and an enrollment token in the console, 50 agents (the
 * project's agent client) enroll with that token and show up online, the operator filters them,
 * changes the policy and watches the rollout reach 50/50 live, unenrolls one agent, and signs out.
 * Every page passes axe (no serious or critical violation), raises no CSP violation or console
 * error, and is photographed (FLEET_CONSOLE_SCREENSHOT_DIR; `npm run console:screenshots`).
 */
describe("Console end to end: the issue's story in Chromium", function () {
  this.timeout(180_000);
  let server: ConsoleServer;
  let browser: Browser;
  let cp: ConsolePage;
  let fleet: AgentFleet | undefined;
  let policyId: string;
  let enrollmentToken: string;
  const api = () => request.agent(server.origin, { ca: server.caPem });
  const admin = () => ({ Authorization: `Bearer ${server.harness.server.adminToken}` });

  /** axe, a screenshot, and no page problem so far. */
  const checkPage = async (name: string) => {
    await assertAccessible(cp.page, name);
    await screenshot(cp.page, name);
    cp.assertNoProblems();
  };
  /** The agent ids of the table's rows on the page shown. */
  const rowIds = () =>
    cp.page.locator('[data-test-subj^="agentRow-"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-test-subj')!.slice('agentRow-'.length)));
  const indexOf = (id: string) => fleet!.agents.findIndex((a) => a.agentId === id);
  const goto = async (path: string, ready: string) => {
    await cp.page.goto(cp.url(path));
    await cp.by(ready).first().waitFor();
  };

  before(async function () {
    this.timeout(900_000);
    server = await startConsoleServer();
    browser = await launchBrowser(server);
    cp = await openConsolePage(browser, server);
  });
  after(async () => {
    await fleet?.stop();
    await cp?.close();
    await browser?.close();
    await server?.stop();
  });

  it('When the operator signs in, then the overview shows an empty fleet', async () => {
    await signIn(cp, server.harness.server.adminToken);
    await cp.by('overviewStatusCounts').waitFor();
    await cp.by('overviewCount-all').filter({ hasText: /^0$/ }).waitFor();
    await checkPage('overview-empty');
  });

  it('When the operator creates a policy in the console, then it is listed and stored', async () => {
    await cp.by('nav-policies').click();
    await cp.by('policiesTable').waitFor();
    await cp.by('createPolicyButton').click();
    await cp.by('createPolicyFlyout').waitFor();
    await cp.by('policyNameInput').fill('E2E web servers');
    await cp.by('policyNamespaceInput').fill('e2e');
    await cp.by('policyDescriptionInput').fill('Made by the console end-to-end test');
    await cp.by('createPolicySubmit').click();
    await cp.by('createPolicyFlyout').waitFor({ state: 'detached' });
    const list = await api().get('/api/fleet/agent_policies').query({ perPage: 100 }).set(admin()).expect(200);
    const created = (list.body.items as { id: string; name: string; namespace: string }[]).find((p) => p.name === 'E2E web servers');
    expect(created).to.include({ namespace: 'e2e' });
    policyId = created!.id;
    await cp.page.goto(cp.url('/policies'));
    await cp.by(`policyRow-${policyId}`).waitFor();
    await checkPage('policies');
  });

  it('When the operator creates an enrollment token for it, then the secret and the exact enroll command are shown once', async () => {
    await cp.by('nav-enrollment-tokens').click();
    await cp.by('enrollmentTokensTable').waitFor();
    await cp.by('createEnrollmentTokenButton').click();
    await cp.by('enrollmentTokenNameInput').fill('e2e token');
    const select = cp.by('enrollmentTokenPolicySelect');
    if ((await select.evaluate((el) => el.tagName)) === 'SELECT') await select.selectOption(policyId);
    else {
      await select.click();
      await cp.page.getByRole('option', { name: /E2E web servers/ }).click();
    }
    await cp.by('createEnrollmentTokenSubmit').click();
    await cp.by('enrollmentTokenSecret').waitFor();
    enrollmentToken = (await cp.by('enrollmentTokenSecret').innerText()).trim();
    expect(enrollmentToken).to.match(/^[A-Za-z0-9+/=_-]{20,}$/);
    const command = await cp.by('enrollCommand').innerText();
    expect(command).to.include(`elastic-agent enroll --url=${server.origin} --enrollment-token=${enrollmentToken}`);
    // The page cannot tell which CA the server uses: it names the flag beside the command.
    expect(await cp.page.locator('body').innerText()).to.include('--certificate-authorities=');
    await checkPage('enrollment-tokens');
  });

  it('When 50 agents enroll with that token, then the agents table shows them come online without a reload', async () => {
    fleet = await startAgentFleet(server, enrollmentToken, AGENTS, tagsOf);
    await goto('/agents', 'agentsTable');
    await cp.by('agentsTotal').filter({ hasText: `${AGENTS} agents` }).waitFor({ timeout: 60_000 });
    await cp.by('statusFilter-online').click();
    await cp.page.waitForURL(/[?&]status=online/);
    // The total was 50 before the filter too (some agents still enrolling): wait until the filtered
    // table, refreshing by itself, lists all 50 and every row it shows is online.
    const statusesShown = async () => {
      const ids = await rowIds();
      return Promise.all(ids.map(async (id) => ({ id, status: (await cp.by(`agentStatus-${id}`).innerText()).trim() })));
    };
    const shown = await eventually(
      async () => {
        if (!(await cp.by('agentsTotal').innerText()).includes(`${AGENTS} agents`)) return undefined;
        const rows = await statusesShown();
        return rows.length > 0 && rows.every((r) => r.status === 'online') ? rows : undefined;
      },
      60_000,
      250,
    );
    for (const { id } of shown) expect(indexOf(id), id).to.be.at.least(0);
    await checkPage('agents');
    expect(fleet.errors).to.deep.equal([]);
  });

  it('When the agents are online, then the overview counts them and shows their long polls, in both themes', async () => {
    await cp.by('nav-overview').click();
    await cp.by('overviewCount-online').filter({ hasText: new RegExp(`^${AGENTS}$`) }).waitFor({ timeout: 30_000 });
    // Each agent holds a long poll open on the gateway most of the time.
    await cp.page.waitForFunction((sel) => Number(document.querySelector(sel)?.textContent) > 0, '[data-test-subj="openLongPolls"]', { timeout: 30_000 });
    await checkPage('overview');
    const dark = () => cp.page.evaluate(() => document.body.innerText.length > 0 && window.localStorage.getItem('fleet-console-color-mode'));
    await cp.by('themeToggle').click();
    expect(await dark()).to.equal('dark');
    await checkPage('overview-dark');
    await goto('/agents', 'agentsTable');
    await checkPage('agents-dark');
    await cp.by('themeToggle').click();
    expect(await dark()).to.equal('light');
  });

  it('When the operator filters by tag, then only the tagged agents are listed, and the filter is in the URL', async () => {
    await cp.by('tagsFilterButton').click();
    await cp.by('tagsFilterOption-db').click();
    await cp.page.keyboard.press('Escape');
    await cp.by('agentsTotal').filter({ hasText: `${AGENTS / 2} agents` }).waitFor();
    // Only the databases (odd indices) are listed.
    const shown = await rowIds();
    expect(shown.length).to.be.above(0);
    expect(shown.map((id) => indexOf(id) % 2)).to.deep.equal(shown.map(() => 1));
    expect(decodeURIComponent(new URL(cp.page.url()).search)).to.include('db');
    // The same view from its link, in a fresh load.
    await cp.page.reload();
    await cp.by('agentsTotal').filter({ hasText: `${AGENTS / 2} agents` }).waitFor();
    cp.assertNoProblems();
  });

  it("When the operator opens an agent, then its details show (policy revision, components, action history)", async () => {
    const id = (await rowIds())[0]!;
    await goto(`/agents/${id}`, 'agentDetails');
    await cp.by('agentPolicyRevision').waitFor();
    await cp.by('agentComponents').filter({ hasText: 'filestream' }).waitFor();
    await checkPage('agent-details');
    // The action history is a tab of its own, in the URL.
    await cp.by('agentTab-actions').click();
    await cp.by('agentActionHistory').waitFor();
    expect(new URL(cp.page.url()).searchParams.get('tab')).to.equal('actions');
    await assertAccessible(cp.page, 'agent action history');
    cp.assertNoProblems();
  });

  it('When the operator changes the policy, then the rollout page shows progress live up to 50/50', async () => {
    await goto(`/policies/${policyId}`, 'policyTab-settings');
    // The embedded server has no output key cluster: the page says how its output's agents authenticate.
    const warning = cp.by('outputCredentialWarnings');
    await warning.waitFor();
    expect(await warning.textContent()).to.include('Output "default" is delivered without credentials');
    await checkPage('policy-details');
    const before = (await api().get(`/api/fleet/agent_policies/${policyId}`).set(admin()).expect(200)).body.item.revision as number;
    await cp.by('policyTab-settings').click();
    // The agents take up to ~12 s to acknowledge the new revision (agent i after i × 250 ms).
    fleet!.setAckDelay((i) => i * 250);
    await cp.by('policyDescriptionInput').fill('Changed by the console end-to-end test');
    await cp.by('savePolicySettings').click();
    await api()
      .get(`/api/fleet/agent_policies/${policyId}`)
      .set(admin())
      .expect(200)
      .then((r: request.Response) => expect(r.body.item.revision).to.be.at.least(before));
    // The page goes to the rollout, or links it.
    const onRollout = () => new URL(cp.page.url()).pathname.startsWith(`/app/fleet/rollouts/policies/${policyId}`);
    await cp.page.waitForURL(/\/rollouts\/policies\//, { timeout: 5_000 }).catch(async () => {
      if (!onRollout()) await cp.by('viewRolloutLink').click();
    });
    await cp.by('rolloutProgress').waitFor();
    // The page is watched, never reloaded, while the count climbs: it must show the rollout on its way
    // (some but not all agents acknowledged) before it shows 50/50.
    const seen = new Set<string>();
    const deadline = Date.now() + 90_000;
    let shown = '';
    while (Date.now() < deadline) {
      shown = /\d+\/\d+/.exec(await cp.by('rolloutAcknowledged').innerText())?.[0] ?? '';
      seen.add(shown);
      if (shown === `${AGENTS}/${AGENTS}`) break;
      await sleep(100);
    }
    expect(shown).to.equal(`${AGENTS}/${AGENTS}`);
    const onTheWay = [...seen].map((t) => Number(t.split('/')[0])).filter((n) => n > 0 && n < AGENTS);
    expect(onTheWay, `values shown: ${[...seen].join(', ')}`).to.not.be.empty;
    await cp.by('rolloutComplete').waitFor();
    fleet!.setAckDelay(undefined);
    await checkPage('rollout');
  });

  it('When the operator unenrolls one agent, then it leaves the table', async () => {
    await goto('/agents', 'agentsTable');
    await cp.by('agentsTotal').filter({ hasText: `${AGENTS} agents` }).waitFor();
    const victim = (await rowIds())[0]!;
    await cp.by(`agentRowActions-${victim}`).click();
    await cp.by('unenrollAgent').click();
    await cp.by('confirmModalConfirmButton').click();
    await cp.by(`agentRow-${victim}`).waitFor({ state: 'detached', timeout: 60_000 });
    await cp.by('agentsTotal').filter({ hasText: `${AGENTS - 1} agents` }).waitFor({ timeout: 60_000 });
    // The agent was told (an UNENROLL action it acked) and its loop ended.
    await eventually(() => fleet!.gone.has(victim), 30_000, 200);
    cp.assertNoProblems();
  });

  it('When the operator signs out, then the pages and the API refuse the browser, and a copy of its cookie', async () => {
    const cookie = (await cp.context.cookies(server.origin)).find((c) => c.name === 'fleet_console_session');
    expect(cookie, 'the session cookie').to.not.equal(undefined);
    const copied = `${cookie!.name}=${cookie!.value}`;
    await api().get('/api/fleet/console/session').set('Cookie', copied).expect(200);
    await cp.by('signOutButton').click();
    await cp.by('loginForm').waitFor();
    const status = await cp.page.evaluate(async () => (await fetch('/api/fleet/agents')).status);
    expect(status).to.equal(401);
    // The console's sign-out ended the session on the server: the copy taken before is refused.
    await eventually(async () => (await api().get('/api/fleet/console/session').set('Cookie', copied)).status === 401, 5_000);
    await api().get('/api/fleet/agents').set('Cookie', copied).expect(401);
    await cp.page.goto(cp.url('/agents'));
    await cp.by('loginForm').waitFor();
    cp.assertNoProblems();
  });
});
