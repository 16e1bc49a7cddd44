import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Logger } from 'pino';
import type { TracingConfig } from './tracing-config';
import { registerTracingShutdown } from './tracing-shutdown';

/** Paths whose requests are not traced: probes and scrapes would drown everything else. */
const UNTRACED_PATHS = new Set(['/livez', '/readyz', '/metrics']);

/** A diagnostic's text: the SDK passes some errors as serialized JSON (with the stack). */
function readable(message: string): string {
  if (!message.startsWith('{')) return message;
  try {
    const parsed = JSON.parse(message) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : message;
  } catch {
    return message;
  }
}

/** OpenTelemetry's own diagnostics as pino lines; the same message at most once a minute. */
function diagnostics(logger: Logger): DiagLogger {
  const lastSeen = new Map<string, number>();
  const log = (level: 'error' | 'warn' | 'info' | 'debug') => (message: string, ...args: unknown[]) => {
    const text = readable(message).slice(0, 300);
    const now = Date.now();
    if ((lastSeen.get(text) ?? 0) > now - 60_000) return;
    if (lastSeen.size > 100) lastSeen.clear();
    lastSeen.set(text, now);
    const detail = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
    logger[level]({ ...(detail ? { detail: detail.slice(0, 300) } : {}) }, `opentelemetry: ${text}`);
  };
  return { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug'), verbose: log('debug') };
}

export interface SdkTarget {
  serviceName: string;
  serviceVersion: string | undefined;
  instanceId: string;
}

/** Builds and starts the NodeSDK: OTLP/HTTP exporter, batch processor, parent-based sampler. */
export function startSdk(config: TracingConfig, target: SdkTarget, logger: Logger): void {
  diag.setLogger(diagnostics(logger), DiagLogLevel.WARN);
  const url = `${config.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const exporterOptions = { url, timeoutMillis: config.exportTimeoutMs };
  const exporter = config.protocol === 'http/json' ? new OtlpJsonExporter(exporterOptions) : new OtlpProtoExporter(exporterOptions);
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: target.serviceName,
      ...(target.serviceVersion ? { [ATTR_SERVICE_VERSION]: target.serviceVersion } : {}),
      'service.namespace': 'fleet',
      'service.instance.id': target.instanceId,
    }),
    // Traces only: metrics are Prometheus's (prom-client), logs are pino's on stdout.
    metricReaders: [],
    logRecordProcessors: [],
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: config.maxQueueSize,
        maxExportBatchSize: Math.max(1, Math.min(512, config.maxQueueSize)),
        scheduledDelayMillis: 1_000,
        exportTimeoutMillis: config.exportTimeoutMs,
      }),
    ],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has((req.url ?? '').split('?')[0] ?? ''),
      }),
      // Route and handler spans only: one span per middleware would triple every trace.
      new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
      // Only commands inside a traced operation: BullMQ's and the bus's idle polling would
      // otherwise make a root span every few seconds.
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  registerTracingShutdown(() => Promise.race([sdk.shutdown(), new Promise<void>((r) => setTimeout(r, config.exportTimeoutMs).unref())]));
  logger.info({ endpoint: url, protocol: config.protocol, sampleRatio: config.sampleRatio }, 'tracing on');
}
