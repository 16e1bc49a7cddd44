// Shared pieces of the k6 scripts: the Elastic Agent side of the protocol (enroll, checkin, ack)
// and the management API calls the scenarios trigger. Settings come from the environment:
//   FLEET_URL            server or load balancer (default http://127.0.0.1:8220; https: run-k6 --ca)
//   ENROLLMENT_TOKEN     an enrollment API key (data/enrollment-token of the all-in-one server)
//   ADMIN_TOKEN          the management API token (data/admin-token)
//   POLL_TIMEOUT         poll_timeout the agents ask for (default 5m; the server grants it minus 2 min)
import { sleep } from 'k6';
import http from 'k6/http';
import exec from 'k6/execution';

export const URL = __ENV.FLEET_URL || 'http://127.0.0.1:8220';
const AGENT_VERSION = '9.1.0';
const POLL_TIMEOUT = __ENV.POLL_TIMEOUT || '5m';

// k6's default request timeout (60 s) would cut long polls: set it above the longest poll.
const LONG_POLL_HTTP_TIMEOUT = '10m';

function agentHeaders(auth) {
  return {
    'User-Agent': `Elastic Agent v${AGENT_VERSION}`,
    'Elastic-Api-Version': '2023-06-01',
    'Content-Type': 'application/json',
    Authorization: auth,
  };
}

export function adminHeaders() {
  return { Authorization: `Bearer ${__ENV.ADMIN_TOKEN}`, 'Content-Type': 'application/json' };
}

/** Enrolls a new agent; returns { id, key } or null (the response is in the metrics either way). */
export function enroll(tags) {
  const hostname = `k6-${exec.vu.idInTest}-${exec.vu.iterationInScenario}-${Date.now()}`;
  const body = { type: 'PERMANENT', metadata: { local: { elastic: { agent: { version: AGENT_VERSION, id: hostname } }, host: { hostname } }, user_provided: {} } };
  const res = http.post(`${URL}/api/fleet/agents/enroll`, JSON.stringify(body), {
    headers: agentHeaders(`ApiKey ${__ENV.ENROLLMENT_TOKEN}`),
    tags: { name: 'enroll', ...(tags || {}) },
  });
  if (res.status !== 200) return { status: res.status, retryAfter: Number(res.headers['Retry-After'] || 1) };
  const item = res.json('item');
  return { status: 200, id: item.id, key: item.access_api_key };
}

/** Waits as an agent does after a refused request: Retry-After (jittered) on 429, a second otherwise. */
export function backOff(res) {
  sleep(res.status === 429 ? res.retryAfter * (0.5 + Math.random()) : 1);
}

/** Enrolls a new agent, retrying until accepted; `onRefused(res)` is called for each refusal. */
export function enrollAgent(onRefused) {
  for (;;) {
    const e = enroll();
    if (e.status === 200) return { id: e.id, key: e.key, revision: 0, policyId: '' };
    if (onRefused) onRefused(e);
    backOff(e);
  }
}

/** One checkin; returns the parsed body (or null) and the status. */
export function checkin(agent, longPoll) {
  const body = { status: 'online', message: '', ack_token: agent.ackToken || '', agent_policy_id: agent.policyId || '', policy_revision_idx: agent.revision || 0 };
  if (longPoll) body.poll_timeout = POLL_TIMEOUT;
  const res = http.post(`${URL}/api/fleet/agents/${agent.id}/checkin`, JSON.stringify(body), {
    headers: agentHeaders(`ApiKey ${agent.key}`),
    timeout: LONG_POLL_HTTP_TIMEOUT,
    tags: { name: 'checkin' },
  });
  if (res.status !== 200) return { status: res.status, retryAfter: Number(res.headers['Retry-After'] || 1), actions: [] };
  const parsed = res.json();
  if (parsed.ack_token) agent.ackToken = parsed.ack_token;
  return { status: 200, actions: parsed.actions || [] };
}

/** Acks actions; a POLICY_CHANGE moves the agent to that revision. */
export function ack(agent, actions) {
  if (!actions.length) return 200;
  for (const a of actions) {
    if (a.type === 'POLICY_CHANGE') {
      const [, policyId, rev] = a.id.split(':');
      agent.policyId = policyId;
      agent.revision = Number(rev);
    }
  }
  const events = actions.map((a) => ({ action_id: a.id, agent_id: agent.id, type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', timestamp: new Date().toISOString(), message: 'ok' }));
  const res = http.post(`${URL}/api/fleet/agents/${agent.id}/acks`, JSON.stringify({ events }), { headers: agentHeaders(`ApiKey ${agent.key}`), tags: { name: 'acks' } });
  return res.status;
}

/** Milliseconds since an action's created_at (the revision or action document's write time). */
export function ageMs(action) {
  const created = Date.parse(action.created_at);
  return Number.isFinite(created) ? Date.now() - created : undefined;
}
