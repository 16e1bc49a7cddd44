import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ackAll, localMetadata, startHarness, type Harness } from '../../../services/all-in-one/test/support/fleet-server-harness';
import { fleetctl } from './support/cli';

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'libs/fleetctl/bin/fleetctl.js');

describe('fleetctl commands against a real server', function () {
  this.timeout(60_000);
  let h: Harness;
  let env: Record<string, string | undefined>;
  let work: string;

  before(async () => {
    // No rate limit on the agents' upload calls (the diagnostics test uploads at once).
    h = await startHarness({ limits: { uploadStart: { intervalMs: 0 }, uploadChunk: { intervalMs: 0 }, uploadEnd: { intervalMs: 0 } } });
    env = { FLEETCTL_URL: h.url, FLEETCTL_TOKEN: h.server.adminToken };
    work = mkdtempSync(join(tmpdir(), 'fleetctl-cmd-'));
  });
  after(async () => {
    await h.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('When policies are listed, then the table, JSON and YAML outputs each show them, and credentials are masked', async () => {
    const created = await fetch(new URL('/api/fleet/agent_policies', h.url), {
      method: 'POST',
      headers: { ...h.admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: 'edge', name: 'Edge', namespace: 'edge', outputs: { default: { type: 'elasticsearch', api_key: 'id:very-secret-key' } } }),
    });
    expect(created.status).to.equal(200);
    const table = await fleetctl(['policies', 'list'], env);
    expect(table.code, table.stderr).to.equal(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^ID\s+NAME\s+NAMESPACE\s+REVISION\s+AGENTS\s+UPDATED$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/).slice(0, 5))).to.deep.equal([
      ['fleet-default-policy', 'Default policy', 'default', '1', '0'],
      ['edge', 'Edge', 'edge', '1', '0'],
    ]);
    const json = await fleetctl(['policies', 'list', '-o', 'json'], env);
    const page = JSON.parse(json.stdout) as { items: { id: string; outputs?: { default: { api_key: string } } }[]; total: number };
    expect(page.total).to.equal(2);
    expect(page.items.map((p) => p.id)).to.deep.equal(['fleet-default-policy', 'edge']);
    expect(page.items[1]!.outputs!.default.api_key).to.equal('(secret)');
    const yaml = await fleetctl(['policies', 'list', '--output', 'yaml'], env);
    expect((parseYaml(yaml.stdout) as { items: { name: string }[] }).items.map((p) => p.name)).to.deep.equal(['Default policy', 'Edge']);
    expect(json.stdout + yaml.stdout + table.stdout).to.not.include('very-secret-key');
    const shown = await fleetctl(['policies', 'get', 'edge', '-o', 'json', '--show-secrets'], env);
    expect((JSON.parse(shown.stdout) as { outputs: { default: { api_key: string } } }).outputs.default.api_key).to.equal('id:very-secret-key');
  });

  it('When the API answers an error, then fleetctl prints {statusCode} {error}: {message} and exits 1; usage errors exit 3', async () => {
    const missing = await fleetctl(['policies', 'get', 'nope'], env);
    expect(missing).to.deep.equal({ code: 1, stdout: '', stderr: 'fleetctl: 404 Not Found: Agent policy nope not found\n' });
    expect((await fleetctl(['policies', 'frobnicate'], env)).code).to.equal(3);
    expect((await fleetctl(['policies', 'get'], env)).stderr).to.equal('fleetctl: usage: fleetctl policies get ID [--show-secrets]\n');
    expect((await fleetctl(['policies', 'list', '--bogus'], env)).code).to.equal(3);
    expect((await fleetctl(['policies', 'list', '-o', 'xml'], env)).code).to.equal(3);
    expect((await fleetctl(['policies', 'list'], {})).stderr).to.equal('fleetctl: no server: pass --url URL or set FLEETCTL_URL\n');
    const help = await fleetctl(['agents', 'list', '--help'], {});
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include('Usage: fleetctl agents list [--kuery KUERY]');
  });

  it('When the token file is readable by others, then fleetctl refuses it like ssh; at 0600 it is used', async () => {
    const file = join(work, 'token');
    writeFileSync(file, `${h.server.adminToken}\n`);
    chmodSync(file, 0o644);
    const refused = await fleetctl(['policies', 'list', '--url', h.url, '--token-file', file], {});
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.equal(`fleetctl: --token-file ${file}: permissions 0644 are too open; the token must be readable by you only (chmod 600 ${file})\n`);
    chmodSync(file, 0o600);
    expect((await fleetctl(['policies', 'list', '--url', h.url, '--token-file', file], {})).code).to.equal(0);
    const wrong = await fleetctl(['policies', 'list'], { ...env, FLEETCTL_TOKEN: 'not-a-key' });
    expect(wrong.code).to.equal(1);
    expect(wrong.stderr).to.match(/^fleetctl: 401 Unauthorized: /);
  });

  it('When tokens are created, listed and revoked, then the secret is printed once, at creation', async () => {
    const created = await fleetctl(['tokens', 'create', '--policy', 'edge', '--name', 'lab', '-o', 'json'], env);
    expect(created.code, created.stderr).to.equal(0);
    const item = JSON.parse(created.stdout) as { id: string; api_key: string; name: string };
    expect(item.api_key).to.be.a('string');
    const listed = await fleetctl(['tokens', 'list', '--policy', 'edge'], env);
    expect(listed.stdout).to.include(item.id);
    expect(listed.stdout).to.not.include(item.api_key);
    expect((await fleetctl(['tokens', 'revoke', item.id], env)).code).to.equal(0);
    const after = JSON.parse((await fleetctl(['tokens', 'list', '--policy', 'edge', '-o', 'json'], env)).stdout) as { items: { id: string; active: boolean }[] };
    expect(after.items.find((k) => k.id === item.id)?.active).to.equal(false);
  });

  it('When agents are listed, read and reassigned in bulk, then progress lines follow the action to completion', async () => {
    const agent = h.agent();
    await agent.enroll(h.enrollmentToken, { type: 'PERMANENT', metadata: { local: localMetadata('web-07'), user_provided: {}, tags: ['blue'] } });
    await ackAll(agent, await agent.checkin({ status: 'online', message: '' }));
    await h.server.gateway.statusWrites.flush();
    const list = await fleetctl(['agents', 'list', '--status', 'online'], env);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout.split('\n')[1]).to.match(new RegExp(`^${agent.agentId}\\s+web-07\\s+online\\s+fleet-default-policy`));
    const got = JSON.parse((await fleetctl(['agents', 'get', agent.agentId!, '-o', 'json'], env)).stdout) as { id: string; tags: string[] };
    expect(got).to.include({ id: agent.agentId });
    expect(got.tags).to.deep.equal(['blue']);

    const running = fleetctl(['agents', 'reassign', '--kuery', 'tags:blue', '--policy', 'edge', '--timeout', '20'], env);
    // The agent takes the reassignment on its next checkin and acknowledges it.
    let acked = false;
    for (let i = 0; i < 20 && !acked; i++) {
      const res = await agent.checkin({ status: 'online', message: '' });
      if (res.actions?.some((a) => a.type === 'POLICY_REASSIGN')) {
        await ackAll(agent, res);
        acked = true;
      }
    }
    const res = await running;
    agent.close();
    expect(res.code, res.stderr).to.equal(0);
    const actionId = /^action (\S+)$/m.exec(res.stdout)?.[1];
    expect(actionId).to.be.a('string');
    expect(res.stderr).to.include(`action ${actionId}: acknowledged 1/1, failed 0, complete`);
    const status = JSON.parse((await fleetctl(['actions', 'status', actionId!, '-o', 'json'], env)).stdout) as { targeted: number; acknowledged: number; complete: boolean };
    expect(status).to.include({ targeted: 1, acknowledged: 1, complete: true });
    const noWait = await fleetctl(['agents', 'tag', agent.agentId!, '--add', 'green', '--no-wait'], env);
    expect(noWait.code, noWait.stderr).to.equal(0);
    expect(noWait.stdout).to.match(/^action \S+\n$/);
    expect(noWait.stderr).to.equal('');
  });

  it("When diagnostics are requested, then the agent's upload is listed and downloaded byte for byte", async () => {
    const agent = h.agent();
    await agent.enroll(h.enrollmentToken, { type: 'PERMANENT', metadata: { local: localMetadata('db-02'), user_provided: {}, tags: [] } });
    const requested = await fleetctl(['agents', 'diagnostics', agent.agentId!, '--no-wait'], env);
    expect(requested.code, requested.stderr).to.equal(0);
    const actionId = /^action (\S+)$/m.exec(requested.stdout)![1]!;
    let action: { id: string } | undefined;
    for (let i = 0; i < 20 && !action; i++) action = (await agent.checkin({ status: 'online', message: '' })).actions?.find((a) => a.type === 'REQUEST_DIAGNOSTICS');
    expect(action?.id).to.equal(actionId);
    const data = randomBytes(300_000);
    const name = 'elastic-agent-diagnostics-2026-11-30T10-00-00Z-00.zip';
    const { uploadId } = await agent.uploadFile({ actionId, name, mimeType: 'application/zip', data });
    await agent.ack([{ type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', action_id: actionId, agent_id: agent.agentId, message: 'ok', timestamp: new Date().toISOString(), data: { upload_id: uploadId } }]);
    agent.close();
    const list = await fleetctl(['agents', 'diagnostics', agent.agentId!, '--list', '-o', 'json'], env);
    const { items } = JSON.parse(list.stdout) as { items: { status: string; name: string }[] };
    expect(items.map((u) => [u.status, u.name])).to.deep.equal([['READY', name]]);
    const file = join(work, 'diag.zip');
    const download = await fleetctl(['agents', 'diagnostics', agent.agentId!, '--download', file], env);
    expect(download.code, download.stderr).to.equal(0);
    expect(download.stderr).to.equal(`wrote ${data.length} bytes of ${name} to ${file}\n`);
    expect(readFileSync(file).equals(data)).to.equal(true);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
  });

  it('When the server speaks HTTPS with a private CA, then --ca makes fleetctl trust it, and without it fleetctl refuses', async () => {
    const tls = await startHarness({ http: { tls: { mode: 'auto' } } });
    try {
      const tlsEnv = { FLEETCTL_URL: tls.url, FLEETCTL_TOKEN: tls.server.adminToken };
      expect(tls.url).to.match(/^https:/);
      const ok = await fleetctl(['policies', 'list', '--ca', tls.server.caFile!], tlsEnv);
      expect(ok.code, ok.stderr).to.equal(0);
      expect(ok.stdout).to.include('fleet-default-policy');
      const untrusted = await fleetctl(['policies', 'list'], tlsEnv);
      expect(untrusted.code).to.equal(1);
      expect(untrusted.stderr).to.match(/self[- ]signed|unable to verify|local issuer/i);
    } finally {
      await tls.stop();
    }
  });

  it('When the installed bin runs, then it works as a process: --help, and exit 2 from plan with changes', async function () {
    this.timeout(180_000);
    // The bin loads the compiled CLI: build it (and only it) when this checkout has not.
    if (!existsSync(join(ROOT, 'libs/fleetctl/dist/main.js'))) {
      await new Promise<void>((res, rej) => execFile('npx', ['tsc', '-b', 'libs/fleetctl'], { cwd: ROOT, timeout: 170_000 }, (err) => (err ? rej(new Error(err.message)) : res())));
    }
    const run = (args: string[], extra: Record<string, string> = {}) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
        execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...extra }, timeout: 30_000 }, (err, stdout, stderr) =>
          res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const help = await run(['--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include('plan                show what apply would change');
    const plan = await run(['plan', '-f', join(ROOT, 'libs/fleetctl/examples')], { FLEETCTL_URL: h.url, FLEETCTL_TOKEN: h.server.adminToken, ES_OUTPUT_API_KEY: 'bin-secret' });
    expect(plan.code, plan.stderr).to.equal(2);
    expect(plan.stdout).to.include('Plan: 4 to create, 0 to update, 0 to delete.');
    expect(plan.stdout).to.not.include('bin-secret');
  });
});
