/**
 * The recorded traffic of a real Elastic Agent 9.0.1 (`../shared/reference/agent-traffic/`), read
 * at test time; nothing of it is copied into this repository. `FLEET_REFERENCE_TRAFFIC` overrides
 * the path. Suites skip, saying so on stderr, when the file is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface RecordedExchange {
  seq: number;
  method: string;
  /** With `{agent_id}` where the recording had the agent's id. */
  path: string;
  headers: Record<string, string>;
  body?: unknown;
  /** null: the request was still open (a held long poll) when the recording stopped. */
  response_status: number | null;
  response_body: unknown;
}

export interface RecordedTraffic {
  agent: string;
  exchanges: RecordedExchange[];
}

/** Repo root is four levels up from `services/all-in-one/test/support`; `shared/` is its sibling. */
const DEFAULT_PATH = resolve(__dirname, '..', '..', '..', '..', '..', 'shared', 'reference', 'agent-traffic', 'elastic-agent-9.0.1.json');

export function agentTrafficPath(): string {
  return process.env.FLEET_REFERENCE_TRAFFIC ?? DEFAULT_PATH;
}

/** The recording, or undefined (with a note on stderr) when it is not on this machine. */
export function loadAgentTraffic(suite: string): RecordedTraffic | undefined {
  const path = agentTrafficPath();
  if (!existsSync(path)) {
    process.stderr.write(`${suite}: skipped, the recorded agent traffic is not at ${path}\n`);
    return undefined;
  }
  return JSON.parse(readFileSync(path, 'utf8')) as RecordedTraffic;
}

/** The recorded request of exchange `seq`. */
export function exchange(traffic: RecordedTraffic, seq: number): RecordedExchange {
  const found = traffic.exchanges.find((e) => e.seq === seq);
  if (!found) throw new Error(`the recording has no exchange ${seq}`);
  return found;
}
