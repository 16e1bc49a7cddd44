import type { NotificationBus } from '@fleet/notifications';
import type { Logger, ServiceState } from '@fleet/service-kit';
import {
  DocumentConflictError,
  FLEET_SERVER_POLICY_ID,
  isoSeconds,
  uuidV5,
  type AgentDoc,
  type Component,
  type ComponentUnit,
  type FleetServerDoc,
  type FleetStore,
} from '@fleet/store';
import { randomUUID } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { unhealthyReason } from './checkin-status';
import type { PresenceConfig } from './gateway-config';

/** The component states of Elastic Agent (and of Kibana's `components[].status`), best first. */
const STATES = ['HEALTHY', 'STARTING', 'CONFIGURING', 'DEGRADED', 'STOPPING', 'FAILED'] as const;
type UnitState = (typeof STATES)[number];
const worst = (states: UnitState[]): UnitState => states.reduce<UnitState>((a, b) => (STATES.indexOf(b) > STATES.indexOf(a) ? b : a), 'HEALTHY');

/** Namespace of replica agent ids (uuidv5 of the configured replica name). */
const REPLICA_ID_NAMESPACE = '6a1f0a52-3c39-5b0e-9d43-4f6c2e1d7b10';

/**
 * The agent id a replica checks in as. With `FLEET_REPLICA_ID` set (a StatefulSet pod name, a host
 * name), a uuidv5 of it: the same id across restarts, so a restarted replica takes its document
 * back instead of leaving an offline one behind. Without it the replica's name holds the pid, so
 * nothing stable is there to derive from: a new random id per process start (the old one turns
 * offline, and is deleted by the cleanup).
 */
export function presenceAgentId(configuredReplicaId: string): string {
  return configuredReplicaId ? uuidV5(`fleet-server-replica:${configuredReplicaId}`, REPLICA_ID_NAMESPACE) : randomUUID();
}

/** What the presence reports as this replica. */
export interface PresenceIdentity {
  agentId: string;
  /** The replica's name (`X-Fleet-Replica`), kept in `local_metadata.fleet_server.replica`. */
  replicaName: string;
  version: string;
}

export interface PresenceDeps {
  store: FleetStore;
  bus: Pick<NotificationBus, 'connectionStates'>;
  /** The process's state as its health monitor last saw it (store pings). */
  state: () => ServiceState;
  logger: Logger;
  now?: () => Date;
}

/** The health report of one heartbeat: Kibana's `components[]` and the agent's overall status. */
export interface PresenceHealth {
  components: Component[];
  status: 'online' | 'starting' | 'degraded' | 'error';
  message: string;
  /** As the reference derives it from an agent's components. */
  unhealthyReason: string[];
}

/**
 * The component states of this replica: the store (as the health monitor sees it) and the
 * notification bus (Redis connections, when the bus is Redis), as Kibana's component shape.
 */
export function presenceHealth(state: ServiceState, busConnections: Record<string, boolean>, backend: string): PresenceHealth {
  const storeState: UnitState = state === 'HEALTHY' ? 'HEALTHY' : state === 'STARTING' ? 'STARTING' : state === 'STOPPING' ? 'STOPPING' : 'FAILED';
  const storeMessage =
    storeState === 'HEALTHY' ? `the ${backend} store answers` : storeState === 'FAILED' ? `the ${backend} store does not answer` : `the server is ${state.toLowerCase()}`;
  const storeUnits: ComponentUnit[] = [{ id: `fleet-server-store-${backend}`, type: 'output', status: storeState, message: storeMessage }];
  const connections = Object.entries(busConnections);
  const busUnits: ComponentUnit[] = connections.length
    ? connections.map(([name, up]) => ({
        id: `fleet-server-${name}`,
        type: 'input',
        status: up ? 'HEALTHY' : 'DEGRADED',
        message: up ? `redis connection ${name} is up` : `redis connection ${name} is down: changes reach agents by the feeds' polling only`,
      }))
    : [{ id: 'fleet-server-bus-inprocess', type: 'input', status: 'HEALTHY', message: 'in-process notifications' }];
  const component = (id: string, units: ComponentUnit[], healthy: string): Component => {
    const status = worst(units.map((u) => u.status as UnitState));
    const message = status === 'HEALTHY' ? healthy : units.filter((u) => u.status !== 'HEALTHY').map((u) => u.message).join('; ');
    return { id, type: 'fleet-server', status, message, units };
  };
  const components = [
    component('fleet-server-store', storeUnits, storeMessage),
    component(connections.length ? 'fleet-server-bus-redis' : 'fleet-server-bus', busUnits, connections.length ? 'redis bus connected' : 'in-process bus'),
  ];
  const overall = worst(components.map((c) => c.status as UnitState));
  return {
    components,
    status: overall === 'HEALTHY' ? 'online' : overall === 'FAILED' ? 'error' : overall === 'DEGRADED' ? 'degraded' : 'starting',
    message: overall === 'HEALTHY' ? 'Running' : components.filter((c) => c.status !== 'HEALTHY').map((c) => c.message).join('; '),
    unhealthyReason: unhealthyReason(components) ?? [],
  };
}

/** Non-internal IPv4 and IPv6 addresses of this host, as `host.ip`. */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal)
    .map((a) => a.address)
    .slice(0, 16);
}

/**
 * Fleet Server's own presence, as Kibana reads it (docs/fleet-server-presence.md). The replica
 * checks in on the Fleet Server policy as an agent: its `.fleet-agents` document is written at
 * start and its `last_checkin`, status and components every heartbeat; a `.fleet-servers`
 * document is refreshed on the legacy interval. Everything runs on timers beside the agent API:
 * a failed write is logged and tried again on the next tick, and nothing here waits on a request.
 * The same ticks delete presence documents of replicas silent for `cleanupAfterMs` (bounded per tick).
 */
export class ServerPresence {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private legacyTimer: NodeJS.Timeout | undefined;
  private registered = false;
  private beating = false;
  private closed = false;
  private running = new Set<Promise<unknown>>();
  private readonly now: () => Date;
  private readonly host = hostname();

  constructor(
    private readonly deps: PresenceDeps,
    private readonly config: PresenceConfig,
    readonly identity: PresenceIdentity,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  /** First heartbeat and `.fleet-servers` write, then the timers. Never throws: failures are retried on the timers. */
  async start(): Promise<void> {
    if (this.heartbeatTimer || this.closed) return;
    this.heartbeatTimer = setInterval(() => void this.track(this.heartbeat()), this.config.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    this.legacyTimer = setInterval(() => void this.track(this.legacyTick()), this.config.legacyIntervalMs);
    this.legacyTimer.unref();
    await this.track(this.heartbeat());
    await this.track(this.legacyTick());
  }

  /** Stops the timers and waits for writes in flight. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.legacyTimer);
    await Promise.all([...this.running]);
  }

  /** One check-in of this replica: registers it first when its document is missing. A tick during a slow one is skipped. */
  async heartbeat(): Promise<void> {
    if (this.beating || this.closed) return;
    this.beating = true;
    try {
      const fields = await this.checkinFields();
      if (!this.registered) {
        await this.register(fields);
        return;
      }
      const [outcome] = await this.deps.store.agents.updateMany([{ id: this.identity.agentId, fields }]);
      // Deleted (by another replica's cleanup after a long outage, or by hand): check in anew.
      if (outcome === 'not_found') await this.register(fields);
    } catch (err) {
      this.deps.logger.warn({ err, 'fleet.agent.id': this.identity.agentId }, 'fleet server presence: check-in not written, tried again on the next heartbeat');
    } finally {
      this.beating = false;
    }
  }

  /** The `.fleet-servers` heartbeat, then the cleanup of silent replicas. */
  async legacyTick(): Promise<void> {
    try {
      await this.deps.store.fleetServers.put(this.identity.agentId, this.fleetServerDoc());
    } catch (err) {
      this.deps.logger.warn({ err }, 'fleet server presence: .fleet-servers heartbeat not written');
    }
    try {
      await this.cleanup();
    } catch (err) {
      this.deps.logger.warn({ err }, 'fleet server presence: cleanup of silent replicas failed, tried again later');
    }
  }

  /**
   * Deletes, at most `cleanupBatch` of each per call, the presence documents of replicas silent
   * for `cleanupAfterMs`: agents of the Fleet Server policy that are replicas (never an agent that
   * enrolled there), and `.fleet-servers` documents. Returns how many agent documents went.
   */
  async cleanup(): Promise<number> {
    const before = new Date(this.now().getTime() - this.config.cleanupAfterMs);
    const silent = await this.deps.store.agents.listSilent({ policyId: FLEET_SERVER_POLICY_ID, before, limit: this.config.cleanupBatch });
    let deleted = 0;
    for (const hit of silent) {
      if (hit._id === this.identity.agentId || !isReplicaDocument(hit._source)) continue;
      if (await this.deps.store.agents.delete(hit._id)) deleted += 1;
    }
    const servers = await this.deps.store.fleetServers.deleteStale(before, this.config.cleanupBatch);
    if (deleted || servers) this.deps.logger.info({ agents: deleted, servers }, 'fleet server presence: removed silent replicas');
    return deleted;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    void p.finally(() => this.running.delete(p)).catch(() => undefined);
    return p;
  }

  private async checkinFields(): Promise<Partial<AgentDoc>> {
    const health = presenceHealth(this.deps.state(), this.deps.bus.connectionStates(), this.deps.store.backend);
    // The replica runs the latest revision of its policy (nothing to apply): not `updating`.
    const latest = await this.deps.store.policies.latest(FLEET_SERVER_POLICY_ID);
    const now = this.now();
    return {
      last_checkin: isoSeconds(now),
      updated_at: now.toISOString(),
      last_checkin_status: health.status,
      last_checkin_message: health.message,
      unhealthy_reason: health.unhealthyReason,
      components: health.components,
      policy_revision_idx: latest?._source.revision_idx ?? null,
      agent_policy_id: latest ? FLEET_SERVER_POLICY_ID : null,
    };
  }

  private async register(fields: Partial<AgentDoc>): Promise<void> {
    const now = this.now();
    const doc: AgentDoc = {
      active: true,
      type: 'PERMANENT',
      enrolled_at: isoSeconds(now),
      policy_id: FLEET_SERVER_POLICY_ID,
      // No key: nothing authenticates as this agent (no API key id is ever empty).
      access_api_key_id: '',
      agent: { id: this.identity.agentId, version: this.identity.version },
      local_metadata: {
        elastic: { agent: { id: this.identity.agentId, version: this.identity.version, snapshot: false, upgradeable: false } },
        host: { hostname: this.host, name: this.host, id: this.host, architecture: process.arch },
        os: { platform: process.platform, name: process.platform, family: process.platform },
        fleet_server: { replica: this.identity.replicaName },
      },
      tags: [],
      action_seq_no: [-1],
      ...fields,
    };
    try {
      await this.deps.store.agents.create(this.identity.agentId, doc);
    } catch (err) {
      if (!(err instanceof DocumentConflictError)) throw err;
      // A stable id (FLEET_REPLICA_ID) restarted: take the document back, active again.
      const { enrolled_at: _kept, ...rest } = doc;
      await this.deps.store.agents.update(this.identity.agentId, rest);
    }
    this.registered = true;
    this.deps.logger.info({ 'fleet.agent.id': this.identity.agentId, 'fleet.policy.id': FLEET_SERVER_POLICY_ID }, 'fleet server presence: this replica checks in as an agent');
  }

  private fleetServerDoc(): FleetServerDoc {
    const ip = hostAddresses();
    return {
      '@timestamp': this.now().toISOString(),
      agent: { id: this.identity.agentId, version: this.identity.version },
      host: { id: this.host, architecture: process.arch, name: this.host, ...(ip.length ? { ip } : {}) },
      server: { id: this.identity.agentId, version: this.identity.version },
    };
  }
}

/** A presence document of a replica (never an agent that enrolled on the Fleet Server policy). */
export const isReplicaDocument = (doc: AgentDoc): boolean =>
  doc.access_api_key_id === '' && typeof (doc.local_metadata.fleet_server as { replica?: unknown } | undefined)?.replica === 'string';
