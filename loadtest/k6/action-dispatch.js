// Action dispatch with acks: AGENTS agents long-poll; after DISPATCH_AT one VU lists them through
// the management API and sends each a SETTINGS action. Each agent records the action's age at
// receipt (fleet_time_to_action) and acks it.
//   k6 run -e ENROLLMENT_TOKEN=… -e ADMIN_TOKEN=… -e AGENTS=1000 loadtest/k6/action-dispatch.js
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';
import { URL, ack, adminHeaders, ageMs, backOff, checkin, enrollAgent } from './lib/fleet.js';

const timeToAction = new Trend('fleet_time_to_action', true);
const acked = new Counter('fleet_actions_acked');

http.setResponseCallback(http.expectedStatuses(200, 429));

const AGENTS = Number(__ENV.AGENTS || 1000);
const DISPATCH_AT = __ENV.DISPATCH_AT || '40s';

export const options = {
  scenarios: {
    fleet: { executor: 'per-vu-iterations', exec: 'agent', vus: AGENTS, iterations: 1, maxDuration: __ENV.DURATION || '90s', gracefulStop: '0s' },
    dispatch: { executor: 'per-vu-iterations', exec: 'dispatch', vus: 1, iterations: 1, startTime: DISPATCH_AT, maxDuration: '60s' },
  },
  thresholds: {
    fleet_time_to_action: ['p(99)<2000'],
    fleet_actions_acked: [`count>=${AGENTS}`],
  },
};

export function agent() {
  const a = enrollAgent();
  let first = true;
  for (;;) {
    const res = checkin(a, !first);
    first = false;
    if (res.status !== 200) {
      backOff(res);
      continue;
    }
    const settings = res.actions.filter((x) => x.type === 'SETTINGS');
    for (const action of settings) {
      const age = ageMs(action);
      if (age !== undefined) timeToAction.add(age);
    }
    if (ack(a, res.actions) === 200) acked.add(settings.length);
  }
}

export function dispatch() {
  const ids = [];
  for (let page = 1; ids.length < AGENTS; page++) {
    const res = http.get(`${URL}/api/fleet/agents?perPage=1000&page=${page}`, { headers: adminHeaders(), tags: { name: 'list agents' } });
    const items = res.json('items') || [];
    if (!items.length) break;
    for (const item of items) ids.push(item.id);
  }
  for (const id of ids) {
    http.post(`${URL}/api/fleet/agents/${id}/actions`, JSON.stringify({ action: { type: 'SETTINGS', data: { log_level: 'info' } } }), { headers: adminHeaders(), tags: { name: 'create action' } });
  }
}
