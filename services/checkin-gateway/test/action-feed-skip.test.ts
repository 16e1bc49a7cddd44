import { InProcessBus } from '@fleet/notifications';
import { createLogger, type ApiKeyAuthenticator } from '@fleet/service-kit';
import { SqliteFleetStore, type ActionDoc, type AgentDoc, type Hit } from '@fleet/store';
import { expect } from 'chai';
import { ChangeDelivery } from '../src/change-delivery';
import { AckTokenCache } from '../src/ack-token-cache';
import { checkin, type CheckinResult } from '../src/checkin';
import { LongPollRegistry } from '../src/long-poll-registry';
import { PolicyCache } from '../src/policy-cache';
import { StatusWriteBuffer } from '../src/status-write-buffer';

const AGENT = 'agent-skip-1';
const logger = createLogger({ name: 'test', level: 'silent' });

const agentDoc = (seqNo: number): AgentDoc => ({
  active: true,
  type: 'PERMANENT',
  enrolled_at: new Date(Date.now() - 3_600_000).toISOString(),
  policy_id: 'policy-skip',
  access_api_key_id: 'key-1',
  agent: { id: AGENT, version: '8.15.0' },
  local_metadata: {},
  tags: [],
  action_seq_no: [seqNo],
});

const actionDoc = (actionId: string): ActionDoc => ({
  action_id: actionId,
  '@timestamp': new Date().toISOString(),
  expiration: new Date(Date.now() + 3_600_000).toISOString(),
  type: 'UPGRADE',
  agents: [AGENT],
  data: { version: '8.16.0' },
});

/**
 * A checkin whose action cursor is at the feed's position skips the pending-actions query; an
 * action written after that look must still reach the held poll, through the feed or a notification.
 */
describe('Checkin: the pending-actions query skipped at the feed position (real SQLite)', function () {
  let store: SqliteFleetStore;
  let bus: InProcessBus;
  let follower: ChangeDelivery;
  let statusWrites: StatusWriteBuffer;
  let queries: number;
  let registry: LongPollRegistry;

  beforeEach(async () => {
    store = new SqliteFleetStore({ path: ':memory:' });
    bus = new InProcessBus();
    registry = new LongPollRegistry();
    const policies = new PolicyCache(store, logger);
    const authenticator = { forget: () => undefined } as unknown as ApiKeyAuthenticator;
    // A feed poll only when the test asks for one.
    follower = new ChangeDelivery({ store, bus, registry, policies, authenticator, logger }, 3_600_000);
    statusWrites = new StatusWriteBuffer(store, { flushIntervalMs: 3_600_000, maxPending: 1_000 }, logger);
    await store.actions.create(actionDoc('before-start'));
    await follower.start();
    queries = 0;
    const pendingFor = store.actions.pendingFor.bind(store.actions);
    store.actions.pendingFor = (q) => {
      queries += 1;
      return pendingFor(q);
    };
  });

  afterEach(async () => {
    await follower.close();
    await statusWrites.close();
    await store.close();
  });

  const hold = async (): Promise<{ result: Promise<CheckinResult>; abort: AbortController }> => {
    const seen = follower.actionsSeen();
    expect(seen).to.be.a('number');
    const agent: Hit<AgentDoc> = await store.agents.create(AGENT, agentDoc(seen as number));
    const abort = new AbortController();
    const result = checkin(
      {
        store,
        ackTokens: new AckTokenCache(),
        registry,
        policies: new PolicyCache(store, logger),
        statusWrites,
        config: {
          longPollMs: 10_000,
          minPollMs: 1_000,
          maxPollMs: 10_000,
          jitterMs: 0,
          timestampIntervalMs: 60_000,
          pendingActionsLimit: 100,
          compressionLevel: 0,
          compressionThresholdBytes: 0,
          maxDecompressedBodyBytes: 1_000_000,
        },
        logger,
        actionsSeen: () => follower.actionsSeen(),
      },
      { agent, apiKeyId: 'key-1', body: { status: 'online', message: '' }, agentVersion: '8.15.0', pollMs: 10_000, startedAt: Date.now(), signal: abort.signal },
    );
    // Held: registered, first look done.
    for (let i = 0; i < 100 && registry.size === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 20));
    expect(registry.size).to.equal(1);
    return { result, abort };
  };

  it('When the cursor is at the feed position, then the first look asks the store nothing', async () => {
    const { result, abort } = await hold();
    expect(queries).to.equal(0);
    abort.abort();
    expect((await result).outcome).to.equal('aborted');
  });

  it('When an action is written after the skipped look, then the next feed poll wakes the poll and delivers it', async () => {
    const { result } = await hold();
    expect(queries).to.equal(0);
    await store.actions.create(actionDoc('after-look'));
    await follower.monitor.poll();
    const answer = await result;
    expect(answer.outcome).to.equal('delivered');
    expect(answer.actions.map((a) => a.id)).to.deep.equal(['after-look']);
    expect(queries).to.equal(1);
  });

  it('When an action notification arrives before the feed has read the action, then the store is asked and the action delivered', async () => {
    const { result } = await hold();
    const hit = await store.actions.create(actionDoc('notified'));
    // The feed has not moved: only the notification says there is something past it.
    expect(follower.actionsSeen()).to.be.below(hit._seq_no);
    await bus.publish({ kind: 'action', action_doc_id: hit._id, seq_no: hit._seq_no, agents: [AGENT] });
    const answer = await result;
    expect(answer.outcome).to.equal('delivered');
    expect(answer.actions.map((a) => a.id)).to.deep.equal(['notified']);
  });
});
