/**
 * fleetctl on a large fleet: BENCH_AGENTS agents (10,000 by default, the most one bulk call
 * takes) on one policy of a real all-in-one server (SQLite, plain HTTP on loopback), then
 *   1. `fleetctl agents tag --kuery policy_id:... --add ... --no-wait`: the whole bulk call
 *      (query, one UPDATE_TAGS action, batched agent writes), timed end to end through the CLI;
 *   2. a bulk upgrade of the same agents followed for 3 s: the progress lines fleetctl prints
 *      (tags complete at once, as in Kibana; an upgrade waits for acknowledgements);
 *   3. the floor: the store's own `updateMany` of the same agents in the same batches, with no
 *      HTTP, no CLI and no action (what the bulk call cannot go below).
 * Median of ROUNDS for 1 and 3.
 *   node --conditions=@fleet/source --import tsx loadtest/fleetctl-bulk-bench.ts
 */
import { runFleetctl } from '@fleet/fleetctl';
import { SqliteFleetStore, type AgentDoc } from '@fleet/store';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { startHarness } from '../services/all-in-one/test/support/fleet-server-harness';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 10_000);
const ROUNDS = 3;
const POLICY = 'fleet-default-policy';
const BATCH = 500;

function agent(i: number, now: Date): AgentDoc {
  return {
    active: true,
    type: 'PERMANENT',
    enrolled_at: now.toISOString(),
    policy_id: POLICY,
    access_api_key_id: `bench-key-${i}`,
    agent: { id: `bench-${i}`, version: '9.0.1' },
    local_metadata: { host: { hostname: `bench-host-${i}` }, elastic: { agent: { version: '9.0.1' } }, os: { family: 'debian' } },
    tags: [],
    action_seq_no: [-1],
    last_checkin: now.toISOString(),
    last_checkin_status: 'online',
    policy_revision_idx: 1,
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function cli(argv: string[], env: Record<string, string>): Promise<{ code: number; ms: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const started = performance.now();
  const code = await runFleetctl(argv, { env, stdout: { write: (c: string) => (stdout += c) }, stderr: { write: (c: string) => (stderr += c) } });
  return { code, ms: performance.now() - started, stdout, stderr };
}

async function main(): Promise<void> {
  const harness = await startHarness({ log: { level: 'warn' } });
  const store = new SqliteFleetStore({ path: join(harness.dataDir, 'fleet.db') });
  try {
    const now = new Date();
    for (let i = 0; i < AGENTS; i += BATCH) {
      await Promise.all(Array.from({ length: Math.min(BATCH, AGENTS - i) }, (_, j) => store.agents.create(`bench-${i + j}`, agent(i + j, now), { searchable: false })));
    }
    const env = { FLEETCTL_URL: harness.url, FLEETCTL_TOKEN: harness.server.adminToken };
    const kuery = `policy_id:${POLICY}`;
    const out = (s: string): boolean => process.stdout.write(s);
    out(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${AGENTS} agents on SQLite\n`);

    const bulk: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const res = await cli(['agents', 'tag', '--kuery', kuery, '--add', `round-${r}`, '--no-wait'], env);
      if (res.code !== 0) throw new Error(`fleetctl exited ${res.code}: ${res.stderr}`);
      bulk.push(res.ms);
    }
    const followed = await cli(['agents', 'upgrade', '--kuery', kuery, '--version', '9.1.0', '--timeout', '3'], env);

    const floor: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const page = await store.agents.query({ policyIds: [POLICY], page: 1, perPage: AGENTS, now: new Date() });
      const started = performance.now();
      for (let i = 0; i < page.items.length; i += BATCH) {
        const at = new Date().toISOString();
        await store.agents.updateMany(page.items.slice(i, i + BATCH).map((h) => ({ id: h._id, fields: { tags: [...(h._source.tags ?? []), `floor-${r}`], updated_at: at } })));
      }
      floor.push(performance.now() - started);
    }
    out(`fleetctl agents tag --kuery (bulk_update_agent_tags, ${AGENTS} agents): median ${median(bulk).toFixed(0)} ms (runs ${bulk.map((m) => m.toFixed(0)).join(', ')})\n`);
    out(`floor, store.agents.updateMany of the same agents in batches of ${BATCH}: median ${median(floor).toFixed(0)} ms (runs ${floor.map((m) => m.toFixed(0)).join(', ')})\n`);
    out(`fleetctl agents upgrade --kuery ... --timeout 3 (the agents are simulated and never ack), fleetctl printed (exit ${followed.code}):\n${followed.stdout}${followed.stderr}`);
  } finally {
    await store.close();
    await harness.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
