import { gzipSync } from 'node:zlib';
import { AGENT_UA, fuzzApp, pathSegment, sendAndCheck, type FuzzApp, type FuzzRequest } from '../support/fleet-app';
import { readInput } from '../support/fuzz-input';

/**
 * The agent routes' request bodies through the real pipeline: enroll, checkin, acks, audit/unenroll,
 * and the agent id path segment. Flag bit 0 gzips the body (Content-Encoding: gzip).
 */
export const ROUTES = ['enroll', 'checkin', 'acks', 'audit-unenroll', 'checkin-path'] as const;

function build(app: FuzzApp, route: (typeof ROUTES)[number], body: Buffer): FuzzRequest {
  const agent = { 'user-agent': AGENT_UA, 'content-type': 'application/json', authorization: app.agent.auth };
  switch (route) {
    case 'enroll':
      return { method: 'POST', path: '/api/fleet/agents/enroll', headers: { ...agent, authorization: app.enrollAuth }, body };
    case 'checkin':
      return { method: 'POST', path: `/api/fleet/agents/${app.agent.id}/checkin`, headers: agent, body };
    case 'acks':
      return { method: 'POST', path: `/api/fleet/agents/${app.agent.id}/acks`, headers: agent, body };
    case 'audit-unenroll': {
      // A successful audit/unenroll uses its agent up; spread them over the spares.
      const spare = app.spare[body.length % app.spare.length]!;
      return { method: 'POST', path: `/api/fleet/agents/${spare.id}/audit/unenroll`, headers: { ...agent, authorization: spare.auth }, body };
    }
    case 'checkin-path':
      return { method: 'POST', path: `/api/fleet/agents/${pathSegment(body.subarray(0, 200))}/checkin`, headers: agent, body: '{"status":"online"}' };
  }
}

export async function fuzz(data: Buffer): Promise<void> {
  const app = await fuzzApp();
  const { route, flags, rest } = readInput(data, ROUTES.length);
  const req = build(app, ROUTES[route]!, rest);
  if (flags & 1 && req.body !== undefined) {
    req.body = gzipSync(req.body);
    req.headers = { ...req.headers, 'content-encoding': 'gzip' };
  }
  await sendAndCheck(app, req);
}
