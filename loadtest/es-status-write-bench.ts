import { Client } from '@elastic/elasticsearch';
import { readFileSync } from 'node:fs';
import { machineLine, out } from './bench-report';
import { processUsage } from './sim/measurements';

/**
 * `node --import tsx loadtest/es-status-write-bench.ts` with FLEET_ES_URL, FLEET_ES_PID and
 * FLEET_ES_PASSWORD_FILE of a test node (es-node.sh's es.env): Elasticsearch CPU per batched status
 * write, whole-document `index` (what `updateMany` sent) against a partial `update` with `doc`
 * (no script), both after the same realtime `_mget` and guarded by `if_seq_no`. Rounds of the two
 * kinds alternate on the same documents, so both see the same node state.
 */
const AGENTS = Number(process.env.BENCH_AGENTS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const BATCH = 500;
const index = 'bench-status-writes';

const url = process.env.FLEET_ES_URL ?? '';
const pid = Number(process.env.FLEET_ES_PID ?? 0);
const password = readFileSync(process.env.FLEET_ES_PASSWORD_FILE ?? '', 'utf8').trim();
const client = new Client({ node: url, auth: { username: process.env.FLEET_ES_USERNAME ?? 'elastic', password } });

const agentDoc = (i: number) => ({
  active: true,
  policy_id: 'fleet-default-policy',
  agent: { id: `agent-${i}`, version: '8.19.0' },
  local_metadata: { host: { hostname: `host-${i}`, id: `h-${i}`, os: { name: 'linux', version: '6.1' } }, elastic: { agent: { version: '8.19.0', snapshot: false } } },
  components: Array.from({ length: 6 }, (_, c) => ({ id: `comp-${c}`, type: 'filestream', status: 'HEALTHY', message: 'Healthy', units: [{ id: `unit-${c}`, type: 'input', status: 'HEALTHY', message: 'Healthy' }] })),
  enrolled_at: new Date().toISOString(),
  access_api_key_id: `key-${i}`,
  policy_revision_idx: 1,
});

const statusFields = (round: number) => ({
  last_checkin: new Date(Date.now() + round * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
  updated_at: new Date().toISOString(),
  last_checkin_status: 'online',
  last_checkin_message: `round ${round}`,
  action_seq_no: [round],
});

async function round(kind: 'index' | 'update', n: number): Promise<number> {
  const before = processUsage(pid).cpuSeconds;
  for (let start = 0; start < AGENTS; start += BATCH) {
    const ids = Array.from({ length: Math.min(BATCH, AGENTS - start) }, (_, i) => `agent-${start + i}`);
    const got = await client.mget<Record<string, unknown>>({ index, ids });
    const fields = statusFields(n);
    const operations = got.docs.flatMap((d): object[] => {
      if (!('found' in d) || !d.found) return [];
      const meta = { _index: index, _id: d._id, if_seq_no: d._seq_no, if_primary_term: d._primary_term };
      return kind === 'index' ? [{ index: meta }, { ...d._source, ...fields }] : [{ update: meta }, { doc: fields }];
    });
    const res = await client.bulk({ operations });
    if (res.errors) throw new Error(`${kind}: bulk errors ${JSON.stringify(res.items.find((i) => Object.values(i)[0]?.error))}`);
  }
  return processUsage(pid).cpuSeconds - before;
}

async function main(): Promise<void> {
  await client.indices.delete({ index, ignore_unavailable: true });
  await client.indices.create({ index, settings: { number_of_shards: 1, number_of_replicas: 0, refresh_interval: '1s' } });
  for (let start = 0; start < AGENTS; start += BATCH) {
    const ops = Array.from({ length: Math.min(BATCH, AGENTS - start) }, (_, i) => [{ create: { _index: index, _id: `agent-${start + i}` } }, agentDoc(start + i)]).flat();
    await client.bulk({ operations: ops, refresh: true });
  }
  // Warm-up: one round of each.
  await round('index', 0);
  await round('update', 1);
  const cpu = { index: 0, update: 0 };
  for (let n = 2; n < ROUNDS + 2; n++) {
    const kind = n % 2 === 0 ? 'index' : 'update';
    cpu[kind] += await round(kind, n);
  }
  const writes = (AGENTS * ROUNDS) / 2;
  out(`es status writes: ${machineLine}; ${AGENTS} agents, ${ROUNDS} alternating rounds, mget + bulk of ${BATCH}`);
  out(`  whole-document index: ${((cpu.index / writes) * 1e6).toFixed(0)} µs Elasticsearch CPU per status write`);
  out(`  partial update (doc): ${((cpu.update / writes) * 1e6).toFixed(0)} µs Elasticsearch CPU per status write`);
  await client.indices.delete({ index, ignore_unavailable: true });
  await client.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`es-status-write-bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
