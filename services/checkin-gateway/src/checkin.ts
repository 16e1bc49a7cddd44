import { parseGoDuration, type AgentAction, type CheckinRequest } from '@fleet/agent-protocol';
import { AgentInactiveError, BadRequestError, BackpressureError, compareSemVer, parseSemVer, type Logger } from '@fleet/service-kit';
import { isoSeconds, type ActionDoc, type AgentDoc, type Component, type FleetStore, type Hit } from '@fleet/store';
import { activeContext, markEvent, runInContext, type SpanContext } from '@fleet/telemetry';
import type { ServerResponse } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import type { CheckinConfig } from './gateway-config';
import type { LongPollRegistry, WakeReason } from './long-poll-registry';
import { policyDataWithKeys, type PolicyCache, type PreparedPolicy } from './policy-cache';
import { ensureOutputKeys } from './output-keys';
import { isDeliverable, renderAction } from './render-actions';
import type { StatusWriteBuffer } from './status-write-buffer';

/**
 * ack_token → `_seq_no`. Actions are never rewritten, so an entry stays true; bounded (the
 * reference's 5000 entries), oldest first out. Saves a store read on almost every checkin, since
 * agents send their last token each time.
 */
export class AckTokenCache {
  private readonly entries = new Map<string, number>();

  constructor(private readonly maxEntries = 5_000) {}

  async resolve(store: FleetStore, token: string): Promise<number | undefined> {
    const cached = this.entries.get(token);
    if (cached !== undefined) return cached;
    const hit = await store.actions.get(token);
    if (!hit) return undefined;
    this.entries.set(token, hit._seq_no);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    return hit._seq_no;
  }
}

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

const UPGRADE_STATE_METADATA: Record<string, string | undefined> = { UPG_FAILED: 'error_msg', UPG_SCHEDULED: 'scheduled_at' };

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

/** `unhealthy_reason` from the components, as the reference derives it; undefined keeps the stored value. */
export function unhealthyReason(components: Component[] | undefined): string[] | undefined {
  if (!components) return undefined;
  const reasons = new Set<string>();
  const bad = (s: string) => s === 'FAILED' || s === 'DEGRADED';
  for (const c of components) {
    if (!bad(c.status)) continue;
    let found = false;
    for (const u of c.units ?? []) {
      if (!bad(u.status)) continue;
      if (u.type === 'input') reasons.add('input');
      else if (u.type === 'output') reasons.add('output');
      else continue;
      found = true;
    }
    if (!found) reasons.add('other');
  }
  return [...reasons].sort();
}

/** Validates upgrade details metadata by state; invalid details are the agent's error (400). */
export function checkUpgradeDetails(details: CheckinRequest['upgrade_details']): void {
  if (!details) return;
  const required = UPGRADE_STATE_METADATA[details.state];
  if (!required) return;
  const value = details.metadata?.[required];
  if (typeof value !== 'string' || value === '') {
    throw new BadRequestError(`upgrade_details.metadata.${required} is required in state ${details.state}`);
  }
}

/** The status fields a checkin writes (batched), given what the document already holds. */
export function checkinStatusFields(
  agent: AgentDoc,
  body: CheckinRequest,
  agentVersion: string,
  seqNo: number,
  now: Date,
): Partial<AgentDoc> {
  const fields: Partial<AgentDoc> = {
    last_checkin: isoSeconds(now),
    updated_at: now.toISOString(),
    last_checkin_status: body.status,
    last_checkin_message: body.message,
  };
  if (body.components) {
    if (!isDeepStrictEqual(body.components, agent.components)) fields.components = body.components;
    fields.unhealthy_reason = unhealthyReason(body.components) ?? null;
  }
  if (body.local_metadata && !isDeepStrictEqual(body.local_metadata, agent.local_metadata)) {
    fields.local_metadata = body.local_metadata;
  }
  if (agentVersion !== agent.agent.version) fields.agent = { ...agent.agent, version: agentVersion };
  if ((agent.action_seq_no?.[0] ?? -1) !== seqNo) fields.action_seq_no = [seqNo];
  const rollbacks = body.upgrade?.rollbacks ?? [];
  if (!isDeepStrictEqual(rollbacks, agent.upgrade?.rollbacks ?? [])) fields.upgrade = { ...agent.upgrade, rollbacks };
  if (agent.audit_unenrolled_reason || agent.audit_unenrolled_time) {
    fields.audit_unenrolled_reason = null;
    fields.audit_unenrolled_time = null;
  }
  return fields;
}

/**
 * The policy the agent reports running, written at once (not batched) and only when it changed:
 * once per revision per agent. A guarded update, so a report never lowers a revision of the same
 * policy that an ack has meanwhile raised (a batched last-write-wins would undo that ack).
 */
export function reportedPolicyChange(agent: AgentDoc, body: CheckinRequest) {
  const policyId = body.agent_policy_id;
  const revision = body.policy_revision_idx;
  if (policyId === undefined || revision === undefined) return undefined;
  if (policyId === agent.agent_policy_id && revision === agent.policy_revision_idx) return undefined;
  return (current: AgentDoc): Partial<AgentDoc> | undefined => {
    if (current.agent_policy_id === policyId && current.policy_revision_idx === revision) return undefined;
    const acked = current.policy_revision_idx ?? -1;
    if (current.policy_id === policyId && acked > revision) {
      return current.agent_policy_id === policyId ? undefined : { agent_policy_id: policyId };
    }
    return { agent_policy_id: policyId, policy_revision_idx: revision };
  };
}

/**
 * The upgrade fields to write at once (not batched), or undefined when nothing changed.
 * `upgrade_details` is kept as the agent reports it, with the metadata keys Kibana reads in any
 * state (the reference re-packs UPG_FAILED metadata to `{failed_state, error_msg}` and so drops
 * the `retry_error_msg`/`retry_until` an agent still reports after retrying).
 * When the agent stops reporting details, its upgrade ended: done, unless the last report was
 * UPG_FAILED and the agent still runs an older version than the target (it gave up or restarted),
 * which the reference would record as a success.
 */
export function upgradeFields(agent: AgentDoc, body: CheckinRequest, agentVersion: string, now: Date): Partial<AgentDoc> | undefined {
  const details = body.upgrade_details;
  if (!details) {
    const last = agent.upgrade_details;
    if (!last) return undefined;
    const running = parseSemVer(agentVersion);
    const target = parseSemVer(last.target_version);
    if (last.state === 'UPG_FAILED' && running && target && compareSemVer(running, target) < 0) {
      return { upgrade_details: null, upgrade_started_at: null };
    }
    return { upgrade_details: null, upgrade_started_at: null, upgraded_at: now.toISOString() };
  }
  const stored = withKnownMetadata(details);
  if (isDeepStrictEqual(stored, agent.upgrade_details)) return undefined;
  const fields: Partial<AgentDoc> = { upgrade_details: stored };
  if (details.state === 'UPG_WATCHING' && agent.upgrade_attempts) fields.upgrade_attempts = null;
  return fields;
}

/** The `upgrade_details.metadata` keys Kibana reads (any state); others are not stored. */
const UPGRADE_METADATA_KEYS = ['scheduled_at', 'download_percent', 'download_rate', 'retry_error_msg', 'retry_until', 'failed_state', 'error_msg'];

function withKnownMetadata(details: NonNullable<CheckinRequest['upgrade_details']>): NonNullable<AgentDoc['upgrade_details']> {
  if (!details.metadata) return details;
  const metadata = Object.fromEntries(Object.entries(details.metadata).filter(([k]) => UPGRADE_METADATA_KEYS.includes(k)));
  return { ...details, metadata };
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
  if (known && revision > known.revision) known = await deps.policies.refresh(doc.policy_id);
  if (known && revision > known.revision) revision = 0;

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
            const policyDataJson = found.policy ? await agentPolicyData(deps, agentId, found.policy) : undefined;
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

/** Per-agent preparation of a revision: output API keys, when the credentials are Elasticsearch's. */
async function agentPolicyData(deps: CheckinDeps, agentId: string, policy: PreparedPolicy): Promise<string | undefined> {
  if (!policy.esOutputs.length || deps.store.credentials.kind !== 'elasticsearch') return undefined;
  const keys = await ensureOutputKeys({ store: deps.store, logger: deps.logger }, agentId, policy.esOutputs);
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
