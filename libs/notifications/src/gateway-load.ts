import type { BoardValue, ClusterBoard } from './cluster-board';

/** The board topic each checkin gateway reports its load on. */
export const GATEWAY_LOAD_TOPIC = 'gateway-load';
/** How often a gateway reports, and how long a report lives (a replica silent this long is gone). */
export const GATEWAY_LOAD_REPORT_MS = 5_000;
export const GATEWAY_LOAD_TTL_MS = 15_000;

/** One gateway replica's figures. */
export interface GatewayLoad {
  replica_id: string;
  checkins_per_second: number;
  open_long_polls: number;
  reported_at: string;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** The live gateways' reports, malformed figures read as 0. */
export async function liveGatewayLoads(board: ClusterBoard): Promise<GatewayLoad[]> {
  return (await board.reports(GATEWAY_LOAD_TOPIC)).map(({ replica_id, value }) => ({
    replica_id,
    checkins_per_second: num(value.checkins_per_second),
    open_long_polls: num(value.open_long_polls),
    reported_at: typeof value.reported_at === 'string' ? value.reported_at : '',
  }));
}

export const gatewayLoadValue = (load: Omit<GatewayLoad, 'replica_id'>): BoardValue => ({ ...load });
