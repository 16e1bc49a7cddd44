import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ElasticsearchFleetStore } from '@fleet/store';
import { enrollAgent, startHarness, type Harness } from './support/fleet-server-harness';

const script = resolve(__dirname, '../../../deploy/elasticsearch/es-node.sh');

describe('Elasticsearch with security off (dedicated node)', function () {
  this.timeout(180_000);
  let workDir: string;
  let url: string;
  let h: Harness | undefined;

  before(() => {
    workDir = mkdtempSync(join(tmpdir(), 'fleet-es-nosec-'));
    const envFile = execFileSync(script, ['start', workDir], {
      encoding: 'utf8',
      env: { ...process.env, FLEET_ES_SECURITY: 'false' },
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 180_000,
    }).trim();
    url = /FLEET_ES_URL=(.*)/.exec(readFileSync(envFile, 'utf8'))?.[1] ?? '';
  });
  after(async () => {
    await h?.stop();
    try {
      execFileSync(script, ['clean', workDir], { stdio: 'ignore', timeout: 120_000 });
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  });

  it('When security is off, then the store reports it and uses the built-in hashed credentials', async () => {
    const store = await ElasticsearchFleetStore.open({ hosts: [url] });
    try {
      expect(store.capabilities).to.include({ security: false, credentials: 'builtin' });
      const key = await store.credentials.create({ name: 'a', metadata: {} });
      expect((await store.credentials.verify(key.id, key.secret))?.id).to.equal(key.id);
      const raw = (await (await fetch(`${url}/.fleet-builtin-api-keys/_doc/${key.id}`)).json()) as { _source: object };
      expect(JSON.stringify(raw._source)).to.not.contain(key.secret);
    } finally {
      await store.close();
    }
    const refused = await ElasticsearchFleetStore.open({ hosts: [url], credentials: 'elasticsearch' }).then(
      (s) => s.close().then(() => 'opened'),
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    expect(refused).to.not.equal('opened');
  });

  it('When agents enroll and check in, then the flow works on built-in credentials', async () => {
    h = await startHarness({ store: { backend: 'elasticsearch', elasticsearch: { hosts: [url], bulkFlushIntervalMs: 50 } } });
    const agent = await enrollAgent(h);
    const res = await agent.checkin({ status: 'online', message: '' });
    expect(res.actions?.[0]?.id).to.equal('policy:fleet-default-policy:1');
    agent.close();
  });
});
