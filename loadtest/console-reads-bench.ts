/**
 * The console's store reads at fleet scale: 10,000 agents (BENCH_AGENTS) over 5 policies, then
 * each read the agent list and the overview make, timed over a few rounds (median). SQLite in
 * memory by default; `--store elasticsearch` uses the node of FLEET_ES_URL (its `.fleet-*` indices
 * are wiped first: use a node of its own).
 *   node --conditions=@fleet/source --import tsx loadtest/console-reads-bench.ts [--store elasticsearch]
 */
import { SqliteFleetStore, type AgentDoc, type FleetStore } from '@fleet/store';
import { openTestStore, wipeFleetIndices } from '../libs/store/test/support/elasticsearch-env';
import { benchStore } from './bench-elasticsearch';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 10_000);
const ROUNDS = 5;

function agent(i: number, now: Date): AgentDoc {
  return {
    active: i % 50 !== 0,
    type: 'PERMANENT',
    enrolled_at: new Date(now.getTime() - i * 1000).toISOString(),
    policy_id: `policy-${i % 5}`,
    access_api_key_id: `key-${i}`,
    agent: { id: `agent-${i}`, version: '9.1.0' },
    local_metadata: {
      host: { hostname: `host-${(i * 7919) % AGENTS}`, name: `host-${i}`, architecture: 'x86_64' },
      elastic: { agent: { version: i % 3 ? '9.1.0' : '9.0.4', snapshot: false, upgradeable: true } },
      os: { family: 'debian', name: 'Debian', platform: 'debian', version: '12' },
    },
    tags: [`team-${i % 20}`],
    action_seq_no: [1],
    last_checkin: new Date(now.getTime() - (i % 600) * 1000).toISOString(),
    last_checkin_status: i % 97 === 0 ? 'error' : 'online',
    policy_revision_idx: 1,
    components: Array.from({ length: 8 }, (_, c) => ({ id: `comp-${c}`, type: 'filestream', status: 'HEALTHY', units: [{ id: `unit-${c}`, type: 'input', status: 'HEALTHY', message: 'Healthy' }] })),
  };
}

async function open(): Promise<FleetStore> {
  if (benchStore() === 'sqlite') return new SqliteFleetStore({ path: ':memory:' });
  await wipeFleetIndices();
  return openTestStore();
}

async function main(): Promise<void> {
  const store = await open();
  const now = new Date();
  const started = Date.now();
  for (let i = 0; i < AGENTS; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, AGENTS - i) }, (_, j) => store.agents.create(`agent-${i + j}`, agent(i + j, now), { searchable: false })));
  }
  process.stdout.write(`${store.backend}: ${AGENTS} agents stored in ${Date.now() - started} ms\n`);
  const reads: Array<[string, () => Promise<unknown>]> = [
    ['list, default order, page 1', () => store.agents.query({ page: 1, perPage: 20, now })],
    ['list by hostname asc, page 50', () => store.agents.query({ page: 50, perPage: 20, now, sort: { field: 'local_metadata.host.hostname', order: 'asc' } })],
    ['list by last_checkin desc, status online', () => store.agents.query({ page: 1, perPage: 20, now, statuses: ['online'], sort: { field: 'last_checkin', order: 'desc' } })],
    ['list by version, tag team-3', () => store.agents.query({ page: 1, perPage: 20, now, tags: ['team-3'], sort: { field: 'local_metadata.elastic.agent.version', order: 'asc' } })],
    ['status counts (all agents)', () => store.agents.countByStatus({ now, showInactive: true })],
    ['status counts (one policy)', () => store.agents.countByStatus({ now, showInactive: true, policyIds: ['policy-1'] })],
    ['distinct tags', () => store.agents.distinctTags({ limit: 1000 })],
  ];
  for (const [name, read] of reads) {
    const times: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t = performance.now();
      await read();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    process.stdout.write(`${name.padEnd(44)} median ${times[Math.floor(ROUNDS / 2)]?.toFixed(1)} ms, max ${times[ROUNDS - 1]?.toFixed(1)} ms\n`);
  }
  await store.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
