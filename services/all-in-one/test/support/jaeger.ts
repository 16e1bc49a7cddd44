import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { reservePort } from '../../../../deploy/topology/local-topology';
import { jaegerBinary } from './deploy-tools';

/** A span as Jaeger's query API (`/api/traces`) returns it, with its process resolved. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  /** The CHILD_OF reference's span id; '' for a root. */
  parentSpanID: string;
  service: string;
  /** `service.instance.id` of its process (the replica). */
  instance: string;
  /** `span.kind` tag: server, client, producer, consumer, or '' (internal). */
  kind: string;
  tags: Record<string, unknown>;
}

interface RawTag {
  key: string;
  value: unknown;
}
interface RawTrace {
  traceID: string;
  spans: { traceID: string; spanID: string; operationName: string; references?: { refType: string; spanID: string }[]; processID: string; tags?: RawTag[] }[];
  processes: Record<string, { serviceName: string; tags?: RawTag[] }>;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');
const tagMap = (tags: RawTag[] | undefined): Record<string, unknown> => Object.fromEntries((tags ?? []).map((t) => [t.key, t.value]));

function flatten(trace: RawTrace): JaegerSpan[] {
  return trace.spans.map((s) => {
    const process = trace.processes[s.processID];
    const tags = tagMap(s.tags);
    return {
      // The query API drops the leading zeros of a trace id; OTLP spells all 32 digits.
      traceID: s.traceID.padStart(32, '0'),
      spanID: s.spanID.padStart(16, '0'),
      operationName: s.operationName,
      parentSpanID: s.references?.find((r) => r.refType === 'CHILD_OF')?.spanID.padStart(16, '0') ?? '',
      service: process?.serviceName ?? '',
      instance: text(tagMap(process?.tags)['service.instance.id']),
      kind: text(tags['span.kind']),
      tags,
    };
  });
}

/**
 * Jaeger v2 (the real one, built from its Go module) on loopback: an OTLP/HTTP receiver, in-memory
 * storage, and the query API. With `forwardTo`, the same pipeline also sends every span on to
 * another OTLP/HTTP receiver (JSON), so a test can read spans both ways.
 */
export class Jaeger {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    /** Base URL of the OTLP/HTTP receiver (what OTEL_EXPORTER_OTLP_ENDPOINT takes). */
    readonly otlpEndpoint: string,
    /** Base URL of the query API (and UI). */
    readonly queryUrl: string,
    private readonly output: () => string,
  ) {}

  static async start(opts: { forwardTo?: string } = {}): Promise<Jaeger> {
    const binary = jaegerBinary();
    const dir = mkdtempSync(join(tmpdir(), 'fleet-jaeger-'));
    const [otlp, http, grpc] = [await reservePort(), await reservePort(), await reservePort()];
    const exporters: Record<string, unknown> = { jaeger_storage_exporter: { trace_storage: 'memory' } };
    if (opts.forwardTo) exporters['otlphttp/forward'] = { endpoint: opts.forwardTo, encoding: 'json', compression: 'none' };
    const config = {
      service: {
        extensions: ['jaeger_storage', 'jaeger_query'],
        pipelines: { traces: { receivers: ['otlp'], processors: ['batch'], exporters: Object.keys(exporters) } },
        // No metrics listener (its default is 0.0.0.0:8888), quiet logs.
        telemetry: { metrics: { level: 'none' }, logs: { level: 'warn' } },
      },
      extensions: {
        jaeger_storage: { backends: { memory: { memory: { max_traces: 100_000 } } } },
        // Jaeger traces its own queries by default (to an OTLP endpoint it assumes): not here.
        jaeger_query: { storage: { traces: 'memory' }, enable_tracing: false, http: { endpoint: `127.0.0.1:${http}` }, grpc: { endpoint: `127.0.0.1:${grpc}` } },
      },
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${otlp}` } } } },
      processors: { batch: { timeout: '100ms' } },
      exporters,
    };
    const file = join(dir, 'jaeger.yaml');
    writeFileSync(file, stringify(config));
    const child = spawn(binary, ['--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const jaeger = new Jaeger(child, dir, `http://127.0.0.1:${otlp}`, `http://127.0.0.1:${http}`, () => out);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`jaeger exited ${child.exitCode}: ${out}`);
      const query = await fetch(`${jaeger.queryUrl}/api/services`).catch(() => undefined);
      const receiver = await fetch(`${jaeger.otlpEndpoint}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).catch(() => undefined);
      if (query?.status === 200 && receiver?.status === 200) return jaeger;
      if (Date.now() > deadline) {
        await jaeger.close();
        throw new Error(`jaeger did not come up in 60 s: ${out}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** One trace by id, or undefined while Jaeger has none of its spans. */
  async trace(traceId: string): Promise<JaegerSpan[] | undefined> {
    const res = await fetch(`${this.queryUrl}/api/traces/${traceId}`);
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`GET /api/traces/${traceId}: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { data?: RawTrace[] };
    const trace = body.data?.[0];
    return trace ? flatten(trace) : undefined;
  }

  /** `GET /api/traces?service=&operation=`: the traces that have such a span (each trace whole). */
  async findTraces(query: { service: string; operation?: string; limit?: number }): Promise<JaegerSpan[][]> {
    const params = new URLSearchParams({ service: query.service, lookback: '1h', limit: String(query.limit ?? 100) });
    if (query.operation) params.set('operation', query.operation);
    const res = await fetch(`${this.queryUrl}/api/traces?${params.toString()}`);
    if (!res.ok) throw new Error(`GET /api/traces?${params.toString()}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { data?: RawTrace[] }).data?.map(flatten) ?? [];
  }

  /** The services Jaeger has spans of. */
  async services(): Promise<string[]> {
    return ((await (await fetch(`${this.queryUrl}/api/services`)).json()) as { data?: string[] | null }).data ?? [];
  }

  /** What Jaeger logged (the last 20 kB). */
  logs(): string {
    return this.output();
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
      this.child.kill('SIGTERM');
      const stuck = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(stuck);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
