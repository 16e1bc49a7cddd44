import { parseGoDuration, type AgentAction, type CheckinRequest } from '@fleet/agent-protocol';
import type { DeliveryLedger, RolloutRef } from '@fleet/notifications';
import { AgentInactiveError, BadRequestError, BackpressureError, type Logger } from '@fleet/service-kit';
import { isoSeconds, outputKeyTarget, type ActionDoc, type AgentDoc, type FleetStore, type Hit, type RemoteOutputs } from '@fleet/store';
import { activeContext, markEvent, runInContext, type SpanContext } from '@fleet/telemetry';
import type { ServerResponse } from 'node:http';
import type { AckTokenCache } from './ack-token-cache';
import { checkinStatusFields, checkUpgradeDetails, reportedPolicyChange, upgradeFields } from './checkin-status';
import type { CheckinConfig } from './gateway-config';
import type { LongPollRegistry, WakeReason } from './long-poll-registry';
import { policyDataWithKeys, type PolicyCache, type PreparedPolicy } from './policy-cache';
import { ensureOutputKeys } from './output-keys';
import { isDeliverable, renderAction } from './render-actions';
import type { StatusWriteBuffer } from './status-write-buffer';

export interface CheckinDeps {
  store: FleetStore;
  ackTokens: AckTokenCache;
  registry: LongPollRegistry;
  policies: PolicyCache;
  statusWrites: StatusWriteBuffer;
  config: CheckinConfig;
  logger: Logger;
  now?: () => Date;
  random?: () => number;
  /**
   * The highest action `_seq_no` this replica's feed has passed: every later action wakes the
   * polls it targets. A poll whose cursor is at or past it skips the pending-actions query until an
   * action wakes it. Undefined (or absent): not known yet, so the query runs.
   */
  actionsSeen?: () => number | undefined;
  /** Called when an agent gets a policy revision, with the seconds since the revision was written. */
  onPolicyDelivered?: (lagSeconds: number) => void;
  /** Where what an agent is sent (policy revision, actions) is noted, for the console's rollout progress. */
  deliveries?: Pick<DeliveryLedger, 'record'>;
  /** Clients and health of `remote_elasticsearch` outputs; without it their agents get no key. */
  remoteOutputs?: RemoteOutputs;
}

export interface CheckinInput {
  agent: Hit<AgentDoc>;
  apiKeyId: string;
  body: CheckinRequest;
  agentVersion: string;
  /** Poll length granted before setup time and jitter are taken off. */
  pollMs: number;
  /** When the request arrived (ms since epoch). */
  startedAt: number;
  /** Aborted when the agent hangs up (an AbortSignal does; the routes use a lighter `ResponseHangUp`). */
  signal: HangUpSignal;
}

/** What the checkin needs of an AbortSignal: whether the agent left, and one listener for it. */
export interface HangUpSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * The agent hanging up before its answer, read off the response's `close`: one listener per
 * request instead of an AbortController, its signal and its event target.
 */
export class ResponseHangUp implements HangUpSignal {
  aborted = false;
  private listener: (() => void) | undefined;

  constructor(res: ServerResponse) {
    res.once('close', () => {
      if (res.writableFinished) return;
      this.aborted = true;
      this.listener?.();
    });
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    this.listener = listener;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.listener === listener) this.listener = undefined;
  }
}

export interface CheckinResult {
  ackToken: string;
  policy?: PreparedPolicy;
  /** The POLICY_CHANGE data for this agent (with its output keys), when it differs from the shared one. */
  policyDataJson?: string;
  actions: AgentAction[];
  /** Why the poll ended: something to deliver, the timer, a shutdown, or the agent left. */
  outcome: 'delivered' | 'timeout' | 'shutdown' | 'aborted';
}

/**
 * The long-poll length for a request: the agent's `poll_timeout` less 2 minutes, bounded to
 * [min, max]; the configured default otherwise. A malformed `poll_timeout` is a 400.
 */
export function grantedPollMs(config: CheckinConfig, pollTimeout: string | undefined): number {
  if (pollTimeout === undefined || pollTimeout === '') return config.longPollMs;
  const requested = parseGoDuration(pollTimeout);
  if (requested === undefined || requested < 0) throw new BadRequestError(`poll_timeout is not a valid duration: ${pollTimeout}`);
  return Math.max(config.minPollMs, Math.min(requested - 120_000, config.maxPollMs));
}

/**
 * The revision the agent runs, for deciding whether it needs the policy: what it reports (or 0
 * after a reassignment, so the latest is sent), else the acknowledged revision in its document.
 */
export function runningRevision(agent: AgentDoc, body: CheckinRequest): number {
  if (body.agent_policy_id !== undefined && body.policy_revision_idx !== undefined) {
    return body.agent_policy_id === agent.policy_id ? body.policy_revision_idx : 0;
  }
  return agent.policy_revision_idx ?? 0;
}

/**
 * One checkin: records status, then answers at once if the agent is behind on policy or has
 * pending actions, else waits until a notification, the poll timer, a shutdown or the agent leaves.
 */
export async function checkin(deps: CheckinDeps, input: CheckinInput): Promise<CheckinResult> {
  const now = (deps.now ?? (() => new Date()))();
  const { agent, body } = input;
  const doc = agent._source;
  const agentId = agent._id;
  checkUpgradeDetails(body.upgrade_details);

  // The cursor never goes below where this enrollment began, nor below what the document records
  // the agent confirmed. An agent enrolled again may still send the ack token of its earlier
  // enrollment, and a batched status write of that enrollment may land after the new document
  // (setting action_seq_no back): going back would replay old actions.
  const recorded = Math.max(doc.action_seq_no?.[0] ?? -1, doc.enrollment_action_seq_no ?? -1);
  const confirmed = body.ack_token ? await deps.ackTokens.resolve(deps.store, body.ack_token) : undefined;
  const seqNo = Math.max(recorded, confirmed ?? -1);
  // Without a token the cursor may trail acks of the last seconds (the document's copy is written
  // in batches): those acks must then be read as they are now, not as the last refresh saw them.
  const tokenConfirmed = confirmed !== undefined;

  const upgrade = upgradeFields(doc, body, input.agentVersion, now);
  if (upgrade) await deps.store.agents.update(agentId, upgrade);
  const policyChange = reportedPolicyChange(doc, body);
  if (policyChange) await deps.store.agents.mutate(agentId, policyChange);
  deps.statusWrites.queue(agentId, checkinStatusFields(doc, body, input.agentVersion, seqNo, now));

  let revision = runningRevision(doc, body);
  let known = await deps.policies.get(doc.policy_id);
  // A newer revision than this replica knows: first make sure it is not this replica that is
  // behind, or it would send the agent back an older policy. Only a revision the store does not
  // have either (a policy deleted and created again) gets the latest sent, as in the reference.
  // A throttled refresh proves nothing: the agent keeps its revision, and nothing older is sent.
  if (known && revision > known.revision) {
    const checked = await deps.policies.refresh(doc.policy_id);
    known = checked.latest;
    if (checked.read && known && revision > known.revision) revision = 0;
  }

  let pollMs = input.pollMs;
  const setup = Date.now() - input.startedAt;
  pollMs = setup >= pollMs ? 1 : pollMs - setup;
  const jitter = Math.floor((deps.random ?? Math.random)() * deps.config.jitterMs);
  if (jitter < pollMs) pollMs -= jitter;

  // Woken checks run in this request's trace, not in the trace of whatever woke them.
  const requestContext = activeContext();
  return new Promise<CheckinResult>((resolve, reject) => {
    let done = false;
    const wokenBy: SpanContext[] = [];
    let checking = false;
    let recheck = false;
    let cursor = seqNo;
    let firstLook = true;
    // An 'actions' wake since the last look: the store must be asked, whatever the feed has seen.
    let actionsWoken = false;
    const finish = (result: CheckinResult | Error) => {
      if (done) return;
      done = true;
      unregister();
      clearTimeout(pollTimer);
      clearInterval(stampTimer);
      input.signal.removeEventListener('abort', onAbort);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onAbort = () => finish({ ackToken: '', actions: [], outcome: 'aborted' });

    const check = async (): Promise<void> => {
      if (checking) {
        recheck = true;
        return;
      }
      checking = true;
      try {
        do {
          recheck = false;
          const seen = actionsWoken ? undefined : deps.actionsSeen?.();
          actionsWoken = false;
          // Registered before this look: an action past `seen` wakes this poll (and is then read).
          const askStore = seen === undefined || cursor < seen;
          const found = await pending(deps, agentId, doc.policy_id, revision, cursor, firstLook && !tokenConfirmed, askStore);
          firstLook = false;
          if (done) return;
          cursor = found.cursor;
          if (found.policy || found.actions.length) {
            // The fan-out (one notification, many polls) shows as links from each delivery.
            if (wokenBy.length) markEvent('fleet.checkin.deliver', wokenBy, { 'fleet.actions': found.actions.length });
            if (found.policy && deps.onPolicyDelivered) {
              const written = Date.parse(found.policy.createdAt);
              if (Number.isFinite(written)) deps.onPolicyDelivered(Math.max(0, (Date.now() - written) / 1000));
            }
            const policyDataJson = found.policy ? await agentPolicyData(deps, agentId, doc, found.policy) : undefined;
            if (deps.deliveries) deps.deliveries.record(agentId, deliveredRefs(found));
            finish({
              ackToken: found.ackToken,
              actions: found.actions,
              outcome: 'delivered',
              ...(found.policy ? { policy: found.policy } : {}),
              ...(policyDataJson ? { policyDataJson } : {}),
            });
            return;
          }
        } while (recheck && !done);
      } finally {
        checking = false;
      }
    };
    const runCheck = () => {
      check().catch((err: unknown) => {
        // A failed look-up must not end the poll: the change monitor will wake it again.
        deps.logger.warn({ err, 'fleet.agent.id': agentId }, 'checkin look-up failed');
      });
    };

    const waiter = {
      agentId,
      apiKeyId: input.apiKeyId,
      policyId: doc.policy_id,
      revision,
      wake(reason: WakeReason, cause?: SpanContext) {
        if (reason === 'shutdown') finish({ ackToken: body.ack_token ?? '', actions: [], outcome: 'shutdown' });
        else if (reason === 'revoked') finish(new AgentInactiveError());
        else {
          if (cause && wokenBy.length < 8) wokenBy.push(cause);
          if (reason === 'actions') actionsWoken = true;
          runInContext(requestContext, runCheck);
        }
      },
    };
    // Registered before the first look-up, so a change racing with it still wakes this poll.
    const unregister = deps.registry.add(waiter);
    const pollTimer = setTimeout(() => finish({ ackToken: '', actions: [], outcome: 'timeout' }), pollMs);
    const stampTimer = setInterval(() => {
      const at = new Date();
      try {
        deps.statusWrites.queue(agentId, { last_checkin: isoSeconds(at), updated_at: at.toISOString() });
      } catch (err) {
        if (!(err instanceof BackpressureError)) throw err;
      }
    }, deps.config.timestampIntervalMs);
    input.signal.addEventListener('abort', onAbort);
    if (input.signal.aborted) onAbort();

    // The first look-up's failure is the request's failure; later ones only log (above).
    check().catch((err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
  });
}

/** What a delivery hands the agent, as the ledger names it. */
function deliveredRefs(found: Pending): RolloutRef[] {
  const refs: RolloutRef[] = found.actions.map((a) => ({ kind: 'action', actionId: a.id }));
  if (found.policy) refs.push({ kind: 'policy', policyId: found.policy.policyId, revision: found.policy.revision });
  return refs;
}

/**
 * Per-agent preparation of a revision: output API keys, for `elasticsearch` outputs where this
 * server can make them (`outputKeyTarget`: the store's Elasticsearch, or the output key cluster the
 * output points at), for remote outputs on their own cluster whatever the backend. Other outputs go
 * out with the credentials written in them.
 */
async function agentPolicyData(deps: CheckinDeps, agentId: string, doc: AgentDoc, policy: PreparedPolicy): Promise<string | undefined> {
  const target = outputKeyTarget(deps.store);
  const outputs = policy.esOutputs.filter((o) => (o.remote ? deps.remoteOutputs !== undefined : target?.covers(o.hosts) === true));
  // Keys the agent holds for outputs this revision dropped are marked for retirement even when it
  // gets no key at all (a remote output removed from a policy on the built-in credentials).
  const holdsKeys = Object.values(doc.outputs ?? {}).some((o) => o.api_key_id);
  if (!outputs.length && !holdsKeys) return undefined;
  const keys = await ensureOutputKeys({ store: deps.store, logger: deps.logger, remote: deps.remoteOutputs, target }, agentId, policy.policyId, outputs);
  return policyDataWithKeys(policy, keys);
}

interface Pending {
  policy?: PreparedPolicy;
  actions: AgentAction[];
  ackToken: string;
  cursor: number;
}

async function pending(
  deps: CheckinDeps,
  agentId: string,
  policyId: string,
  revision: number,
  cursor: number,
  freshAcks: boolean,
  askStore: boolean,
): Promise<Pending> {
  const now = (deps.now ?? (() => new Date()))();
  const hits: Hit<ActionDoc>[] = askStore
    ? await deps.store.actions.pendingFor({ agentId, afterSeqNo: cursor, now, limit: deps.config.pendingActionsLimit })
    : [];
  let deliverable = hits.filter((h) => isDeliverable(h._source));
  if (deliverable.length !== hits.length) {
    deps.logger.debug({ 'fleet.agent.id': agentId, skipped: hits.length - deliverable.length }, 'undeliverable action types skipped');
  }
  if (deliverable.length) {
    // An action the agent already acknowledged is never delivered again, whatever its cursor says.
    const ids = [...new Set(deliverable.map((h) => h._source.action_id))];
    const acked = await deps.store.actionResults.acknowledgedBy(agentId, ids, { fresh: freshAcks });
    if (acked.size) {
      deliverable = deliverable.filter((h) => !acked.has(h._source.action_id));
      deps.logger.debug({ 'fleet.agent.id': agentId, skipped: acked.size }, 'acknowledged actions not delivered again');
    }
  }
  const latest = await deps.policies.get(policyId);
  const policy = latest && latest.revision > revision ? latest : undefined;
  const last = hits[hits.length - 1];
  return {
    actions: deliverable.map((h) => renderAction(h, agentId)),
    ackToken: deliverable.length && last ? last._id : '',
    cursor: last ? last._seq_no : cursor,
    ...(policy ? { policy } : {}),
  };
}
