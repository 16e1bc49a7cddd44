import { expect } from 'chai';
import { readFileSync, rmSync, statSync, writeFileSync, mkdirSync, cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localMetadata, startHarness, type Harness } from '../../../services/all-in-one/test/support/fleet-server-harness';
import { copyExamples, fleetctl, transcript } from './support/cli';
import { startGateProxy } from './support/gate-proxy';

const CANARY = `canary-es-key-${process.pid}-7f3a9c`;
const ROTATED = `${CANARY}-rotated`;
const TEST_SECRET = `canary-test-secret-${process.pid}-51be0d`;

/** A JSON answer read loosely (the test asserts on its fields). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

/** Header lines of a plan (one per object) and its summary. */
const headers = (stdout: string): string[] => stdout.split('\n').filter((l) => l && !l.startsWith(' '));

describe('fleetctl plan and apply against a real server', function () {
  this.timeout(60_000);
  let h: Harness;
  let dir: string;
  let env: Record<string, string | undefined>;
  let tokensOut: string;
  const scratch: string[] = [];

  const api = async (path: string) => {
    const res = await fetch(new URL(`/api/fleet${path}`, h.url), { headers: h.admin });
    return { status: res.status, body: (await res.json()) as { item: Loose; items: Loose[] } };
  };
  const edit = (file: string, from: string | RegExp, to: string) => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    const next = text.replace(from, to);
    expect(next, `${file} edited`).to.not.equal(text);
    writeFileSync(path, next);
  };

  before(async () => {
    h = await startHarness();
    dir = copyExamples();
    scratch.push(dir);
    tokensOut = join(dir, '..', `fleetctl-tokens-${process.pid}.json`);
    // A second secret, as a whole scalar field.
    writeFileSync(join(dir, 'policies', 'db-servers.yaml'), 'kind: agent_policy\nid: db-servers\nname: Database servers\ndescription: ${FLEETCTL_TEST_SECRET}\n');
    env = { FLEETCTL_URL: h.url, FLEETCTL_TOKEN: h.server.adminToken, ES_OUTPUT_API_KEY: CANARY, FLEETCTL_TEST_SECRET: TEST_SECRET };
  });
  after(async () => {
    await h.stop();
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
    rmSync(tokensOut, { force: true });
  });

  it('When the server has none of the objects, then plan shows every create and exits 2', async () => {
    const res = await fleetctl(['plan', '-f', dir], env);
    expect(res.code, res.stderr).to.equal(2);
    expect(headers(res.stdout)).to.deep.equal([
      '+ agent_policy "db-servers" (create)',
      '+ agent_policy "linux-servers" (create)',
      '+ agent_policy "Web servers" (create)',
      '+ enrollment_token "linux-servers/ci" (create)',
      '+ enrollment_token "Web servers/default" (create)',
      'Plan: 5 to create, 0 to update, 0 to delete.',
    ]);
    expect(res.stdout).to.include('    + description: (secret)\n');
    expect(res.stdout).to.include('          api_key: (secret)\n');
    expect(res.stdout).to.include('    + namespace: "linux"\n');
  });

  it('When apply runs, then it creates them, the secrets reach the server, and token secrets go to --tokens-out only', async () => {
    const res = await fleetctl(['apply', '-f', dir, '--tokens-out', tokensOut], env);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout).to.include('agent_policy "linux-servers": created (id linux-servers, revision 1)');
    expect(res.stdout).to.include('Apply complete.');
    // The embedded server makes no per-agent output keys without an output key cluster: apply says so.
    expect(res.stderr).to.include('warning: agent_policy "linux-servers": Output "default" is delivered with the credentials written in it');
    const linux = await api('/agent_policies/linux-servers');
    expect(linux.body.item.outputs.default.api_key).to.equal(CANARY);
    expect(linux.body.item).to.include({ name: 'Linux servers', namespace: 'linux' });
    expect((await api('/agent_policies/db-servers')).body.item.description).to.equal(TEST_SECRET);
    expect(statSync(tokensOut).mode & 0o777).to.equal(0o600);
    const { tokens } = JSON.parse(readFileSync(tokensOut, 'utf8')) as { tokens: { name: string; policy_id: string; api_key: string }[] };
    expect(tokens.map((t) => t.name).sort()).to.deep.equal(['ci', 'default']);
    for (const t of tokens) {
      expect(t.api_key).to.be.a('string').with.length.greaterThan(10);
      expect(res.stdout + res.stderr).to.not.include(t.api_key);
    }
    const keys = (await api('/enrollment_api_keys?perPage=100')).body.items.filter((k) => k.active);
    expect(keys.map((k) => k.name.replace(/ \(.*\)$/, '')).sort()).to.deep.equal(['Default', 'ci', 'default']);
  });

  it('When nothing changed, then a second plan and apply are empty (exit 0)', async () => {
    const plan = await fleetctl(['plan', '-f', dir], env);
    expect(plan, plan.stderr).to.include({ code: 0, stdout: 'No changes: the server matches the files.\n' });
    const apply = await fleetctl(['apply', '-f', dir], env);
    expect(apply, apply.stderr).to.include({ code: 0, stdout: 'No changes: the server matches the files.\n' });
    expect((await api('/agent_policies/linux-servers')).body.item.revision).to.equal(1);
  });

  it('When one file changes, then plan shows exactly that change, field by field, and apply makes it', async () => {
    edit('policies/linux-servers.yaml', 'namespace: linux', 'namespace: prod');
    edit('policies/linux-servers.yaml', 'period: 10s', 'period: 30s');
    const plan = await fleetctl(['plan', '-f', dir], env);
    expect(plan.code, plan.stderr).to.equal(2);
    expect(plan.stdout).to.equal(
      [
        '~ agent_policy "linux-servers" (update, revision 1)',
        '    ~ namespace: "linux" → "prod"',
        '    ~ inputs:',
        '              metricsets:',
        '                - cpu',
        '      -       period: 10s',
        '      +       period: 30s',
        '',
        'Plan: 0 to create, 1 to update, 0 to delete.',
        '',
      ].join('\n'),
    );
    const apply = await fleetctl(['apply', '-f', dir], env);
    expect(apply.code, apply.stderr).to.equal(0);
    expect(apply.stdout).to.include('agent_policy "linux-servers": updated (revision 1 → 2)');
    const linux = (await api('/agent_policies/linux-servers')).body.item;
    expect(linux).to.include({ namespace: 'prod', revision: 2 });
    expect(linux.inputs[0].streams[0].period).to.equal('30s');
    expect((await fleetctl(['plan', '-f', dir], env)).code).to.equal(0);
  });

  it("When a secret's value changes, then plan says (secret changed) and prints neither value", async () => {
    const rotated = { ...env, ES_OUTPUT_API_KEY: ROTATED };
    const plan = await fleetctl(['plan', '-f', dir], rotated);
    expect(plan.code, plan.stderr).to.equal(2);
    expect(plan.stdout).to.equal(
      [
        '~ agent_policy "linux-servers" (update, revision 2)',
        '    ~ outputs:',
        '          hosts:',
        '            - https://es.example.internal:9200',
        '      -   api_key: (secret)',
        '      +   api_key: (secret changed)',
        '',
        'Plan: 0 to create, 1 to update, 0 to delete.',
        '',
      ].join('\n'),
    );
    expect((await fleetctl(['apply', '-f', dir], rotated)).code).to.equal(0);
    expect((await api('/agent_policies/linux-servers')).body.item.outputs.default.api_key).to.equal(ROTATED);
    env = rotated;
  });

  it('When a token field changes, then plan replaces it (-/+): tokens cannot be updated', async () => {
    writeFileSync(join(dir, 'tokens', 'web-default.yaml'), readFileSync(join(dir, 'tokens', 'web-default.yaml'), 'utf8') + 'expiration: "2030-01-01T00:00:00.000Z"\n');
    const plan = await fleetctl(['plan', '-f', dir], env);
    expect(plan.code, plan.stderr).to.equal(2);
    expect(plan.stdout).to.equal(
      [
        '-/+ enrollment_token "Web servers/default" (replace: tokens cannot be updated)',
        '    ~ expiration: (unset) → "2030-01-01T00:00:00.000Z"',
        '',
        'Plan: 1 to create, 0 to update, 1 to delete.',
        '',
      ].join('\n'),
    );
    const apply = await fleetctl(['apply', '-f', dir, '--tokens-out', tokensOut], env);
    expect(apply.code, apply.stderr).to.equal(0);
    const keys = (await api('/enrollment_api_keys?perPage=100')).body.items.filter((k) => k.active && k.name.startsWith('default ('));
    expect(keys).to.have.length(1);
    expect(Date.parse(keys[0]!.expire_at)).to.equal(Date.parse('2030-01-01T00:00:00.000Z'));
    expect((await fleetctl(['plan', '-f', dir], env)).code).to.equal(0);
  });

  it('When files are wrong, then every error names file:line:column and the field, and nothing is sent', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'fleetctl-bad-'));
    scratch.push(bad);
    mkdirSync(join(bad, 'more'));
    writeFileSync(join(bad, 'a-broken.yaml'), 'kind: agent_policy\nname: [unclosed\n');
    writeFileSync(join(bad, 'b-unknown.yaml'), 'kind: agent_policy\nname: Unknown field\ncolour: blue\n');
    writeFileSync(join(bad, 'c-invalid.yaml'), 'kind: agent_policy\nname: Bad namespace\nnamespace: Not Valid\n');
    writeFileSync(join(bad, 'd-unset.yaml'), 'kind: agent_policy\nname: Unset\noutputs:\n  es:\n    type: elasticsearch\n    api_key: ${FLEETCTL_SURELY_UNSET}\n');
    writeFileSync(join(bad, 'e-kind.yml'), 'kind: agent_polcy\nname: Typo\n');
    writeFileSync(join(bad, 'h-twin.yaml'), 'kind: agent_policy\nname: Twin\n');
    writeFileSync(join(bad, 'more', 'f-dup.yaml'), '# the same policy again\nkind: agent_policy\nname: Twin\n');
    writeFileSync(join(bad, 'g-token.yaml'), 'kind: enrollment_token\nname: t\npolicy_id: p\nexpires: tomorrow\n');
    const before = (await api('/agent_policies?perPage=100')).body.items.length;
    const res = await fleetctl(['plan', '-f', bad], env);
    expect(res.code).to.equal(1);
    expect(res.stdout).to.equal('');
    const lines = res.stderr.split('\n').map((l) => l.trim());
    expect(lines).to.include('b-unknown.yaml:3:1: colour: unknown field');
    expect(lines).to.include('c-invalid.yaml:3:12: namespace: must be lowercase letters, digits and _ (at most 100)');
    expect(lines).to.include('d-unset.yaml:6:14: outputs.es.api_key: environment variable FLEETCTL_SURELY_UNSET is not set');
    expect(lines).to.include('e-kind.yml:1:7: kind: must be one of agent_policy, enrollment_token');
    expect(lines).to.include('g-token.yaml:4:1: expires: unknown field');
    expect(lines.some((l) => /^a-broken\.yaml:\d+:\d+: \(yaml\): Flow sequence/.test(l)), res.stderr).to.equal(true);
    expect(lines).to.include('more/f-dup.yaml:3:1: name: duplicate agent_policy name "Twin" (also in h-twin.yaml:2:1)');
    expect((await api('/agent_policies?perPage=100')).body.items.length).to.equal(before);
  });

  it('When --prune would delete a policy agents use, then apply refuses; with --force it deletes it', async () => {
    const { tokens } = JSON.parse(readFileSync(tokensOut, 'utf8')) as { tokens: { name: string; policy_id: string; api_key: string }[] };
    const ci = tokens.find((t) => t.policy_id === 'linux-servers' && t.name === 'ci')!;
    const agent = h.agent();
    await agent.enroll(ci.api_key, { type: 'PERMANENT', metadata: { local: localMetadata('db-01'), user_provided: {}, tags: [] } });
    agent.close();
    rmSync(join(dir, 'policies', 'linux-servers.yaml'));
    rmSync(join(dir, 'tokens', 'linux-ci.yaml'));
    // The default policy stays: --prune deletes every (unmanaged) policy the files do not name.
    writeFileSync(join(dir, 'policies', 'default.yaml'), 'kind: agent_policy\nid: fleet-default-policy\nname: Default policy\n');
    writeFileSync(join(dir, 'tokens', 'default.yaml'), 'kind: enrollment_token\npolicy_id: fleet-default-policy\nname: Default\n');

    const plan = await fleetctl(['plan', '-f', dir, '--prune'], env);
    expect(plan.code, plan.stderr).to.equal(2);
    expect(plan.stdout).to.equal(
      [
        '- enrollment_token "linux-servers/ci" (revoke)',
        '- agent_policy "linux-servers" (delete, refused: 1 agent(s) use it; --force unenrolls them)',
        '',
        'Plan: 0 to create, 0 to update, 2 to delete.',
        '',
      ].join('\n'),
    );
    const refused = await fleetctl(['apply', '-f', dir, '--prune'], env);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.include('refusing to apply: agent_policy "linux-servers" is used by 1 agent(s)');
    expect((await api('/agent_policies/linux-servers')).status).to.equal(200);
    expect((await api('/enrollment_api_keys?perPage=100')).body.items.some((k) => k.policy_id === 'linux-servers' && k.active)).to.equal(true);

    const forced = await fleetctl(['apply', '-f', dir, '--prune', '--force'], env);
    expect(forced.code, forced.stderr).to.equal(0);
    expect(forced.stdout).to.include('- agent_policy "linux-servers" (delete, force: 1 agent(s) will be unenrolled)');
    expect((await api('/agent_policies/linux-servers')).status).to.equal(404);
    expect((await fleetctl(['plan', '-f', dir, '--prune'], env)).code).to.equal(0);
  });

  it('When two applies edit one policy at once, then one wins, the other exits 4, and its re-run applies its edit without losing the first', async () => {
    const a = mkdtempSync(join(tmpdir(), 'fleetctl-a-'));
    const b = mkdtempSync(join(tmpdir(), 'fleetctl-b-'));
    scratch.push(a, b);
    cpSync(dir, a, { recursive: true });
    cpSync(dir, b, { recursive: true });
    writeFileSync(join(a, 'policies', 'web-servers.yaml'), readFileSync(join(a, 'policies', 'web-servers.yaml'), 'utf8') + 'description: edited by A\n');
    writeFileSync(join(b, 'policies', 'web-servers.yaml'), readFileSync(join(b, 'policies', 'web-servers.yaml'), 'utf8').replace('namespace: web', 'namespace: web_b'));
    const web = (await api('/agent_policies?perPage=100')).body.items.find((p) => p.name === 'Web servers')!;
    // Both read the policy; their writes are held until both were sent, then go one after the other.
    const gate = await startGateProxy(h.url, (req) => req.method === 'PUT' && (req.url ?? '').startsWith('/api/fleet/agent_policies/'), 2);
    try {
      const viaGate = { ...env, FLEETCTL_URL: gate.url };
      const [ra, rb] = await Promise.all([fleetctl(['apply', '-f', a], viaGate), fleetctl(['apply', '-f', b], viaGate)]);
      expect(gate.held).to.have.length(2);
      const results = [ra, rb];
      expect(results.map((r) => r.code).sort(), results.map((r) => r.stderr).join('\n')).to.deep.equal([0, 4]);
      const loser = ra.code === 4 ? { res: ra, dir: a } : { res: rb, dir: b };
      expect(loser.res.stderr).to.include(`conflict: agent_policy "Web servers" changed on the server since the plan read revision ${web.revision}`);
      expect(loser.res.stderr).to.include('re-run plan');
      const replan = await fleetctl(['plan', '-f', loser.dir], env);
      expect(replan.code).to.equal(2);
      expect(headers(replan.stdout)).to.deep.equal([`~ agent_policy "Web servers" (update, revision ${web.revision + 1})`, 'Plan: 0 to create, 1 to update, 0 to delete.']);
      expect((await fleetctl(['apply', '-f', loser.dir], env)).code).to.equal(0);
    } finally {
      await gate.close();
    }
    const final = (await api(`/agent_policies/${web.id}`)).body.item;
    expect(final).to.include({ description: 'edited by A', namespace: 'web_b', revision: web.revision + 2 });
  });

  it('When the run is over, then no secret value appeared in any output of any command', () => {
    const all = transcript.join('\n');
    expect(all).to.include('(secret)');
    for (const secret of [CANARY, ROTATED, TEST_SECRET]) expect(all).to.not.include(secret);
  });
});
