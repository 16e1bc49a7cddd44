import type { FleetNotification, NotificationBus, NotificationEnvelope } from '@fleet/notifications';
import { expect } from 'chai';

export interface BusPair {
  /** Two buses as two replicas would hold them (for the in-process bus: the same one twice). */
  a: NotificationBus;
  b: NotificationBus;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function receive(bus: NotificationBus, count: number, timeoutMs = 3000): Promise<NotificationEnvelope[]> {
  const got: NotificationEnvelope[] = [];
  const off = bus.subscribe((e) => got.push(e));
  const deadline = Date.now() + timeoutMs;
  while (got.length < count && Date.now() < deadline) await sleep(10);
  off();
  return got;
}

/** The behaviour every NotificationBus implementation must have. */
export function defineBusContract(name: string, open: (opts: { policyDebounceMs: number }) => Promise<BusPair>): void {
  describe(`NotificationBus contract: ${name}`, function () {
    let pair: BusPair | undefined;
    afterEach(async () => {
      if (pair) await Promise.all([pair.a.close(), pair.b.close()]);
      pair = undefined;
    });

    it('When a notification is published, then every subscriber gets it with the sender id and trace context', async () => {
      pair = await open({ policyDebounceMs: 0 });
      const inbox = receive(pair.b, 1);
      await sleep(50);
      const n: FleetNotification = { kind: 'action', action_doc_id: 'd1', seq_no: 7, agents: ['a1', 'a2'] };
      await pair.a.publish(n, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      const [envelope] = await inbox;
      expect(envelope?.notification).to.deep.equal(n);
      expect(envelope?.sender).to.equal(pair.a.senderId);
      expect(envelope?.traceparent).to.equal('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      expect(Date.parse(envelope?.sent_at ?? '')).to.be.a('number').and.not.NaN;
    });

    it('When a subscriber unsubscribes, then it gets nothing more', async () => {
      pair = await open({ policyDebounceMs: 0 });
      const got: NotificationEnvelope[] = [];
      const off = pair.b.subscribe((e) => got.push(e));
      off();
      await pair.a.publish({ kind: 'agent-revoked', agent_id: 'x', api_key_ids: ['k'] });
      await sleep(200);
      expect(got).to.deep.equal([]);
    });

    it('When revisions of one policy arrive in a burst, then the newest is announced once; other policies are independent', async () => {
      pair = await open({ policyDebounceMs: 150 });
      const inbox = receive(pair.b, 2, 2000);
      await sleep(50);
      for (const revision of [3, 4, 5]) await pair.a.publish({ kind: 'policy-revision', policy_id: 'p1', revision_idx: revision, seq_no: revision });
      await pair.a.publish({ kind: 'policy-revision', policy_id: 'p2', revision_idx: 1, seq_no: 9 });
      await pair.a.publish({ kind: 'policy-revision', policy_id: 'p1', revision_idx: 2, seq_no: 10 });
      const got = await inbox;
      await sleep(300);
      const revisions = got.map((e) => e.notification).map((n) => (n.kind === 'policy-revision' ? `${n.policy_id}:${n.revision_idx}` : n.kind));
      expect(revisions.sort()).to.deep.equal(['p1:5', 'p2:1']);
    });

    it('When the bus is closed twice, then both calls resolve and publishing afterwards is a no-op', async () => {
      pair = await open({ policyDebounceMs: 0 });
      await pair.a.close();
      await pair.a.close();
      await pair.a.publish({ kind: 'agent-revoked', agent_id: 'x', api_key_ids: [] });
    });
  });
}
