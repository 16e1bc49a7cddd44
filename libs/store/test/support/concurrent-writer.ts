/**
 * A separate process writing to a shared SQLite store file (argv: path, writer name, rounds): each
 * round is a read-modify-write (mutate) and a batched update of every agent, as a gateway's status
 * flush and an ack do. Prints `{"failures": n, "first": "..."}` and exits 0.
 */
import { SqliteFleetStore } from '@fleet/store';

async function main(): Promise<void> {
  const [path, writer, rounds] = process.argv.slice(2);
  if (!path || !writer) throw new Error('usage: concurrent-writer <path> <writer> <rounds>');
  const store = new SqliteFleetStore({ path });
  let failures = 0;
  let first = '';
  const ids = ['agent-1', 'agent-2', 'agent-3', 'agent-4'];
  for (let i = 0; i < Number(rounds ?? 200); i++) {
    for (const attempt of [
      () => store.agents.mutate(ids[i % ids.length] ?? 'agent-1', (doc) => ({ tags: [...(doc.tags ?? []).slice(-20), `${writer}-${i}`] })),
      () => store.agents.updateMany(ids.map((id) => ({ id, fields: { last_checkin_message: `${writer} ${i}` } }))),
    ]) {
      try {
        await attempt();
      } catch (err) {
        failures += 1;
        first ||= err instanceof Error ? err.message : String(err);
      }
    }
  }
  await store.close();
  process.stdout.write(JSON.stringify({ failures, first }));
}

void main();
