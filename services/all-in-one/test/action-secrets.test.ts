import { ActionSealer, redactActionSecrets, type ActionDoc } from '@fleet/store';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { enrollAgent, localMetadata, startHarness, type Harness } from './support/fleet-server-harness';

const PASSWORD = 'hunter2-do-not-store-me';

describe('Action secrets are sealed at rest and never shown by the management API (issue 12)', function () {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.stop());

  it('When a PRIVILEGE_LEVEL_CHANGE carries a password, then the API redacts it, the store file never holds it, and the agent gets it', async () => {
    const agent = await enrollAgent(h);
    const created = await request(h.url)
      .post(`/api/fleet/agents/${agent.agentId}/actions`)
      .set(h.admin)
      .send({ action: { type: 'PRIVILEGE_LEVEL_CHANGE', data: { unprivileged: true, user_info: { username: 'elastic-agent-user', password: PASSWORD } } } });
    expect(created.status).to.equal(200);
    expect(created.body.item.data.user_info).to.deep.equal({ username: 'elastic-agent-user', password: '[redacted]' });
    expect(JSON.stringify(created.body)).to.not.include(PASSWORD);

    // Not in the database file or its WAL, in any form the bytes could take.
    for (const file of ['fleet.db', 'fleet.db-wal']) {
      const bytes = readFileSync(join(h.dataDir, file));
      expect(bytes.includes(Buffer.from(PASSWORD)), file).to.equal(false);
    }
    const raw = new Database(join(h.dataDir, 'fleet.db'), { readonly: true });
    const row = raw.prepare('SELECT doc FROM actions WHERE action_id = ?').get(created.body.item.id) as { doc: string };
    raw.close();
    expect((JSON.parse(row.doc) as ActionDoc).data).to.have.nested.property('user_info.password').that.matches(/^fleet-sealed:v1:/);
    expect(statSync(join(h.dataDir, 'action-secrets.key')).mode & 0o777).to.equal(0o600);

    // The agent it is addressed to gets the password itself.
    const res = await agent.checkin({ status: 'online', message: '', local_metadata: localMetadata(), poll_timeout: '2s' });
    const action = res.actions?.find((a) => a.id === created.body.item.id);
    expect(action?.data).to.have.nested.property('user_info.password', PASSWORD);
    agent.close();
  });

  it('When a sealed value is opened with another key or for another action, then it stays sealed (nothing leaks)', () => {
    const doc: ActionDoc = { action_id: 'a-1', '@timestamp': new Date().toISOString(), type: 'MIGRATE', agents: ['x'], data: { target_uri: 'https://fleet.example:8220', enrollment_token: 'tok-123' } };
    const sealer = new ActionSealer(randomBytes(32));
    const sealed = sealer.seal(doc);
    expect(sealed.data).to.have.property('enrollment_token').that.matches(/^fleet-sealed:v1:/);
    expect(sealer.open(sealed).data).to.have.property('enrollment_token', 'tok-123');
    expect(new ActionSealer(randomBytes(32)).open(sealed).data).to.have.property('enrollment_token').that.matches(/^fleet-sealed:v1:/);
    expect(sealer.open({ ...sealed, action_id: 'a-2' }).data).to.have.property('enrollment_token').that.matches(/^fleet-sealed:v1:/);
    expect(redactActionSecrets('MIGRATE', doc.data)).to.deep.equal({ target_uri: 'https://fleet.example:8220', enrollment_token: '[redacted]' });
  });
});
