// Enrollment storm: new agents enroll at a constant arrival rate.
//   k6 run -e ENROLLMENT_TOKEN=… -e RATE=500 -e DURATION=30s loadtest/k6/enrollment-storm.js
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import http from 'k6/http';
import { enroll } from './lib/fleet.js';

const enrollMs = new Trend('fleet_enroll_duration', true);
const refused = new Counter('fleet_enroll_refused');

// 429 + Retry-After is the server shedding load, not a failure of the run.
http.setResponseCallback(http.expectedStatuses(200, 429));

export const options = {
  scenarios: {
    storm: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 500),
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: Number(__ENV.VUS || 200),
      maxVUs: Number(__ENV.MAX_VUS || 1000),
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    fleet_enroll_duration: ['p(99)<1000'],
    dropped_iterations: ['count<1'],
  },
};

export default function () {
  const t0 = Date.now();
  const res = enroll();
  if (res.status === 429) refused.add(1);
  else enrollMs.add(Date.now() - t0);
  check(res, { 'enrolled or shed with 429': (r) => r.status === 200 || r.status === 429 });
}
