import type { Hit } from './documents';

/**
 * The agent policy this server keeps for itself: Kibana decides "Fleet Server is connected" from
 * the agents of its Fleet Server policies, and each replica checks in as one of them
 * (docs/fleet-server-presence.md). The id of the policy Kibana's Fleet UI creates for a Fleet
 * Server, so the server's replicas land on the policy an operator of both would expect.
 */
export const FLEET_SERVER_POLICY_ID = 'fleet-server-policy';

/** The input type that makes a policy a Fleet Server policy (`has_fleet_server`). */
export const FLEET_SERVER_INPUT_TYPE = 'fleet-server';

/** Whether a policy's inputs make it a Fleet Server policy, as Kibana's `has_fleet_server`. */
export const hasFleetServerInput = (inputs: ReadonlyArray<{ type?: unknown }> | undefined): boolean =>
  (inputs ?? []).some((input) => input.type === FLEET_SERVER_INPUT_TYPE);

/**
 * A `.fleet-servers` document (the reference's `server` schema, deprecated there): one per
 * running server, `_id` the server's agent id, refreshed by a heartbeat. Kibana 7.13 to early 8.x
 * counted these to decide whether a Fleet Server is connected.
 */
export interface FleetServerDoc {
  '@timestamp': string;
  agent: { id: string; version: string };
  host: { id: string; architecture: string; name: string; ip?: string[] };
  server: { id: string; version: string };
}

/** `.fleet-servers` (both backends keep the same records). */
export interface FleetServerStore {
  /** Creates or replaces the document of server `id`; searches see it when this resolves. */
  put(id: string, doc: FleetServerDoc): Promise<void>;
  get(id: string): Promise<Hit<FleetServerDoc> | undefined>;
  /** How many documents there are: what older Kibana releases count. */
  count(): Promise<number>;
  /** Deletes at most `limit` documents whose `@timestamp` is before `before`; returns how many. */
  deleteStale(before: Date, limit: number): Promise<number>;
}
