import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '../../../services/all-in-one/test/support/fleet-server-harness';
import { fleetctl } from './support/cli';

const KEY = `canary-ssl-key-${process.pid}-3d1e`;
const TOKEN = `canary-api-key-${process.pid}-9b07`;
const ROTATED = `${KEY}-rotated`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

const POLICY = (description: string) => `kind: agent_policy
id: secret-servers
name: Secret servers
description: ${description}
outputs:
  default:
    type: elasticsearch
    hosts: [https://es.example:9200]
    secrets:
      ssl:
        key: \${SSL_KEY}
inputs:
  - id: httpjson-1
    type: httpjson
    secrets:
      api_key: \${API_TOKEN}
`;

describe('fleetctl plan and apply with secrets fields', function () {
  this.timeout(60_000);
  let h: Harness;
  let dir: string;
  let env: Record<string, string | undefined>;
  const outputs: string[] = [];

  const run = async (args: string[], extra: Record<string, string> = {}) => {
    const res = await fleetctl(args, { ...env, ...extra });
    outputs.push(res.stdout, res.stderr);
    return res;
  };
  const read = async (): Promise<Loose> => {
    const res = await fetch(new URL('/api/fleet/agent_policies/secret-servers', h.url), { headers: h.admin });
    return ((await res.json()) as { item: Loose }).item;
  };
  const storedValues = async (item: Loose): Promise<(string | undefined)[]> => {
    const ids = [item.outputs.default.secrets.ssl.key.id as string, (item.inputs[0].api_key as string).slice(19, -1)];
    const values = await h.server.store.secrets.get(ids);
    return ids.map((id) => values.get(id));
  };

  before(async () => {
    h = await startHarness();
    dir = mkdtempSync(join(tmpdir(), 'fleetctl-secrets-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY('first'));
    env = { FLEETCTL_URL: h.url, FLEETCTL_TOKEN: h.server.adminToken, SSL_KEY: KEY, API_TOKEN: TOKEN };
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('When a policy file has secrets fields, then plan shows (secret: set) and apply stores the values, the policy keeping references', async () => {
    const plan = await run(['plan', '-f', dir]);
    expect(plan.code, plan.stderr).to.equal(2);
    expect(plan.stdout).to.include('key: "(secret: set)"');
    expect(plan.stdout).to.include('api_key: "(secret: set)"');
    const apply = await run(['apply', '-f', dir]);
    expect(apply.code, apply.stderr).to.equal(0);
    const item = await read();
    expect(item.inputs[0].api_key).to.match(/^\$co\.elastic\.secret\{[^}]+\}$/);
    expect(item.inputs[0]).to.not.have.property('secrets');
    expect(await storedValues(item)).to.deep.equal([KEY, TOKEN]);
  });

  it('When nothing changed, then plan shows no diff: a secret the server holds is kept', async () => {
    const plan = await run(['plan', '-f', dir]);
    expect(plan.code, plan.stdout).to.equal(0);
    expect(plan.stdout).to.equal('No changes: the server matches the files.\n');
  });

  it('When another field changes, then apply sends the references back and the secrets keep their ids', async () => {
    const before = await read();
    writeFileSync(join(dir, 'policy.yaml'), POLICY('second'));
    const plan = await run(['plan', '-f', dir]);
    expect(plan.code).to.equal(2);
    expect(plan.stdout.split('\n').filter((l) => l.startsWith('    ~'))).to.deep.equal(['    ~ description: "first" → "second"']);
    expect((await run(['apply', '-f', dir])).code).to.equal(0);
    const after = await read();
    expect(after.revision).to.equal(before.revision + 1);
    expect(after.secret_references).to.deep.equal(before.secret_references);
    expect(after.outputs).to.deep.equal(before.outputs);
    expect(after.inputs).to.deep.equal(before.inputs);
  });

  it('When a value changes, then plan cannot see it; --rotate-secrets sends every value again and they are stored anew', async () => {
    const before = await read();
    const quiet = await run(['plan', '-f', dir], { SSL_KEY: ROTATED });
    expect(quiet.code).to.equal(0);
    const plan = await run(['plan', '-f', dir, '--rotate-secrets'], { SSL_KEY: ROTATED });
    expect(plan.code).to.equal(2);
    expect(plan.stdout).to.include('key: (secret changed)');
    expect(plan.stdout).to.include('api_key: "(secret: set)"');
    expect((await run(['apply', '-f', dir, '--rotate-secrets'], { SSL_KEY: ROTATED })).code).to.equal(0);
    const after = await read();
    expect(after.secret_references).to.have.length(2);
    expect(after.outputs.default.secrets.ssl.key.id).to.not.equal(before.outputs.default.secrets.ssl.key.id);
    expect(after.inputs[0].api_key).to.not.equal(before.inputs[0].api_key);
    expect(await storedValues(after)).to.deep.equal([ROTATED, TOKEN]);
    // And the plan is quiet again.
    expect((await run(['plan', '-f', dir], { SSL_KEY: ROTATED })).code).to.equal(0);
  });

  it('When the run is over, then no value appeared in any output of fleetctl', () => {
    for (const value of [KEY, TOKEN, ROTATED]) expect(outputs.filter((o) => o.includes(value))).to.deep.equal([]);
  });
});
