import type { BoardValue, ClusterBoard } from '@fleet/notifications';
import { AGENT_STATUSES, type AgentStatus, type FleetStore } from '@fleet/store';

/** The board series of agent status samples (one entry per sampling job run). */
export const STATUS_HISTORY_SERIES = 'agent-status';
/** The history is kept for this long at most. */
export const STATUS_HISTORY_MS = 24 * 3_600_000;

export type StatusSample = { timestamp: string } & Record<AgentStatus, number>;

/** How many samples cover the kept history at this interval (at least one). */
export const historySize = (intervalMs: number): number => Math.max(1, Math.ceil(STATUS_HISTORY_MS / Math.max(1_000, intervalMs)));

/** Counts every agent by status (the store counts) and appends the sample to the shared series. */
export async function sampleAgentStatus(deps: { store: FleetStore; board: ClusterBoard }, intervalMs: number, now: Date): Promise<Record<string, number>> {
  const counts = await deps.store.agents.countByStatus({ now, showInactive: true });
  const sample: BoardValue = { timestamp: now.toISOString(), ...counts };
  await deps.board.append(STATUS_HISTORY_SERIES, sample, historySize(intervalMs));
  return { agents: Object.values(counts).reduce((a, b) => a + b, 0) };
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** The samples of the last `hours` (≤ 24), oldest first; entries that do not parse are left out. */
export async function readStatusHistory(board: ClusterBoard, hours: number, intervalMs: number, now: Date): Promise<StatusSample[]> {
  const since = now.getTime() - Math.min(hours * 3_600_000, STATUS_HISTORY_MS);
  const entries = await board.recent(STATUS_HISTORY_SERIES, historySize(intervalMs));
  const out: StatusSample[] = [];
  for (const e of entries) {
    const at = typeof e.timestamp === 'string' ? Date.parse(e.timestamp) : Number.NaN;
    if (Number.isNaN(at) || at < since) continue;
    const sample = { timestamp: new Date(at).toISOString() } as StatusSample;
    for (const s of AGENT_STATUSES) sample[s] = count(e[s]);
    out.push(sample);
  }
  return out;
}
