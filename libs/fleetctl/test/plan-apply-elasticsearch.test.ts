import { expect } from 'chai';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, type Harness } from '../../../services/all-in-one/test/support/fleet-server-harness';
import { copyExamples, fleetctl } from './support/cli';

describe('fleetctl plan and apply on the Elasticsearch store', function () {
  this.timeout(60_000);
  let h: Harness;
  let dir: string;
  let env: Record<string, string | undefined>;

  before(async () => {
    h = await startHarness({}, undefined, 'elasticsearch');
    dir = copyExamples();
    env = { FLEETCTL_URL: h.url, FLEETCTL_TOKEN: h.server.adminToken, ES_OUTPUT_API_KEY: 'es-store-secret' };
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('When apply runs, then the very next plan is empty (what apply wrote is what plan reads), and an edit is one update', async () => {
    expect((await fleetctl(['plan', '-f', dir], env)).code).to.equal(2);
    const apply = await fleetctl(['apply', '-f', dir], env);
    expect(apply.code, apply.stderr).to.equal(0);
    const again = await fleetctl(['plan', '-f', dir], env);
    expect(again, again.stderr).to.include({ code: 0, stdout: 'No changes: the server matches the files.\n' });
    const file = join(dir, 'policies', 'web-servers.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('namespace: web', 'namespace: web_eu'));
    const plan = await fleetctl(['plan', '-f', dir], env);
    expect(plan.stdout).to.equal(['~ agent_policy "Web servers" (update, revision 1)', '    ~ namespace: "web" → "web_eu"', '', 'Plan: 0 to create, 1 to update, 0 to delete.', ''].join('\n'));
    expect((await fleetctl(['apply', '-f', dir], env)).code).to.equal(0);
    expect((await fleetctl(['plan', '-f', dir], env)).code).to.equal(0);
    expect((await fleetctl(['apply', '-f', dir], env)).stdout).to.equal('No changes: the server matches the files.\n');
  });
});
