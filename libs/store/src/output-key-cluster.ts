import type { Client } from '@elastic/elasticsearch';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { createClient } from './elasticsearch/es-client';
import { SecurityApiCredentials } from './elasticsearch/es-credentials';
import type { CredentialStore, FleetStore } from './store-port';

export interface OutputKeyClusterOptions {
  /** The cluster's URLs: only `elasticsearch` outputs pointing at one of them get keys made here. */
  hosts: string[];
  /** A service token of that cluster's `elastic/fleet-server` service account. */
  serviceToken: string;
  tls?: TlsOptions;
  requestTimeoutMs?: number;
}

/**
 * Where a URL points, for comparing an output's hosts with the configured ones: scheme, host,
 * port and path, without a trailing slash. A host without a scheme is `http://` (as the agent's
 * Elasticsearch output takes it). Undefined for what is not a URL.
 */
export function hostKey(host: string): string | undefined {
  try {
    const url = new URL(host.includes('://') ? host : `http://${host}`);
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * The Elasticsearch cluster this server makes per-agent output keys on when its own credentials are
 * built-in (the SQLite store, or Elasticsearch without security): configured with the cluster's
 * hosts and a service token there (docs/architecture.md, "Per-agent output API keys").
 */
export class OutputKeyCluster {
  readonly credentials: CredentialStore;
  readonly hosts: readonly string[];
  private readonly keys: Set<string>;
  private readonly client: Client;
  private closing: Promise<void> | undefined;

  constructor(opts: OutputKeyClusterOptions) {
    if (!opts.hosts.length) throw new RangeError('an output key cluster needs hosts');
    if (!opts.serviceToken) throw new RangeError('an output key cluster needs a service token');
    this.hosts = [...opts.hosts];
    this.keys = new Set(opts.hosts.map(hostKey).filter((k): k is string => k !== undefined));
    this.client = createClient({
      hosts: this.hosts as string[],
      serviceToken: opts.serviceToken,
      requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
      maxRetries: 1,
      ...(opts.tls ? { tls: opts.tls } : {}),
    });
    this.credentials = new SecurityApiCredentials(this.client);
  }

  /** Whether an output with these hosts points at this cluster (one host in common is enough). */
  covers(hosts: readonly string[]): boolean {
    return hosts.some((h) => {
      const key = hostKey(h);
      return key !== undefined && this.keys.has(key);
    });
  }

  /** Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.client.close();
    return this.closing;
  }
}

/** Where the per-agent keys of an `elasticsearch` output are made, when they can be. */
export interface OutputKeyTarget {
  /** The store's own Elasticsearch API keys, or the configured output key cluster. */
  where: 'store' | 'output-cluster';
  credentials: CredentialStore;
  /** Whether an `elasticsearch` output with these hosts gets its keys here. */
  covers(hosts: readonly string[]): boolean;
}

const EVERY_OUTPUT = (): boolean => true;

/**
 * Where `elasticsearch` outputs' per-agent keys are made: with Elasticsearch credentials, on the
 * store's cluster for every such output (as the reference does); with built-in credentials, on the
 * configured output key cluster for the outputs that point at it; otherwise nowhere (undefined),
 * and agents get the output's configured credentials.
 */
export function outputKeyTarget(store: Pick<FleetStore, 'credentials' | 'outputKeyCluster'>): OutputKeyTarget | undefined {
  if (store.credentials.kind === 'elasticsearch') return { where: 'store', credentials: store.credentials, covers: EVERY_OUTPUT };
  const cluster = store.outputKeyCluster;
  return cluster ? { where: 'output-cluster', credentials: cluster.credentials, covers: (hosts) => cluster.covers(hosts) } : undefined;
}
