// A steady fleet: each VU is one agent that enrolls once, then long-polls forever (acking what it
// gets), as elastic-agent does.
//   k6 run -e ENROLLMENT_TOKEN=… -e AGENTS=2000 -e DURATION=2m loadtest/k6/steady-fleet.js
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';
import { ack, backOff, checkin, enrollAgent } from './lib/fleet.js';

const firstCheckinMs = new Trend('fleet_first_checkin_duration', true);
const refused = new Counter('fleet_refused');

http.setResponseCallback(http.expectedStatuses(200, 429));

const AGENTS = Number(__ENV.AGENTS || 1000);

export const options = {
  scenarios: {
    fleet: {
      executor: 'per-vu-iterations',
      vus: AGENTS,
      iterations: 1,
      maxDuration: __ENV.DURATION || '2m',
      gracefulStop: '0s',
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    fleet_first_checkin_duration: ['p(99)<2000'],
  },
};

export default function () {
  const agent = enrollAgent(() => refused.add(1));
  const t0 = Date.now();
  let first = true;
  // Long-poll until the scenario's maxDuration ends the VU.
  for (;;) {
    const res = checkin(agent, !first);
    if (first && res.status === 200) {
      firstCheckinMs.add(Date.now() - t0);
      first = false;
    }
    if (res.status !== 200) {
      if (res.status === 429) refused.add(1);
      backOff(res);
      continue;
    }
    ack(agent, res.actions);
  }
}
