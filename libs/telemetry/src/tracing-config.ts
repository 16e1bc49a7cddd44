import convict from 'convict';

convict.addFormat({
  name: 'ratio',
  validate(value: unknown) {
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || value > 1) throw new Error('must be a number from 0 to 1');
  },
  coerce: (value: unknown) => (typeof value === 'string' ? Number(value) : value),
});

export interface TracingConfig {
  enabled: boolean;
  endpoint: string;
  protocol: 'http/protobuf' | 'http/json';
  sampleRatio: number;
  exportTimeoutMs: number;
  maxQueueSize: number;
}

/**
 * Tracing settings, part of every process's schema. The endpoint and protocol keep the standard
 * OpenTelemetry variable names, so an operator's usual settings (and Jaeger's docs) apply as is.
 */
export const tracingSchema: convict.Schema<TracingConfig> = {
  enabled: {
    doc: 'Send traces over OTLP/HTTP (OpenTelemetry). Off by default: nothing is recorded or sent.',
    format: Boolean,
    default: false,
    env: 'FLEET_TRACING_ENABLED',
  },
  endpoint: {
    doc: 'OTLP/HTTP base URL; spans go to <endpoint>/v1/traces (Jaeger v2 listens on :4318).',
    format: String,
    default: 'http://localhost:4318',
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
  },
  protocol: {
    doc: 'OTLP encoding: http/protobuf or http/json.',
    format: ['http/protobuf', 'http/json'],
    default: 'http/protobuf',
    env: 'OTEL_EXPORTER_OTLP_PROTOCOL',
  },
  sampleRatio: {
    doc: 'Share of new traces recorded (0 to 1). Parent-based: a request that arrives sampled (traceparent) is always recorded.',
    format: 'ratio',
    default: 1,
    env: 'FLEET_TRACING_SAMPLE_RATIO',
  },
  exportTimeoutMs: {
    doc: 'Timeout of one export to the collector; a slow or dead collector costs dropped spans, never requests.',
    format: 'nat',
    default: 10_000,
    env: 'FLEET_TRACING_EXPORT_TIMEOUT_MS',
  },
  maxQueueSize: {
    doc: 'Finished spans waiting for export at most (memory bound while the collector is unreachable; newer spans are dropped).',
    format: 'nat',
    default: 2048,
    env: 'FLEET_TRACING_MAX_QUEUE_SIZE',
  },
};
