import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';

/**
 * Records every span this process makes, in memory: a tracer provider and an async context
 * manager registered globally, as the SDK would register them, with an in-memory exporter.
 * Spans of the project's code (`inSpan`) and of the Elasticsearch client's own instrumentation
 * land here. `stop()` unregisters both.
 */
export class SpanRecorder {
  private readonly exporter: InMemorySpanExporter;
  private readonly provider: TracerProvider;
  private readonly contextManager = new AsyncLocalStorageContextManager();

  private constructor() {
    this.exporter = new InMemorySpanExporter();
    this.provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: this.exporter })] });
  }

  static start(): SpanRecorder {
    const recorder = new SpanRecorder();
    if (!context.setGlobalContextManager(recorder.contextManager.enable())) throw new Error('a context manager is registered already');
    if (!trace.setGlobalTracerProvider(recorder.provider)) throw new Error('a tracer provider is registered already');
    return recorder;
  }

  get spans(): ReadableSpan[] {
    return this.exporter.getFinishedSpans();
  }

  /** Everything a span carries that an exporter would send: name, attributes, events, links, status. */
  static text(span: ReadableSpan): string {
    return JSON.stringify({ name: span.name, attributes: span.attributes, events: span.events, links: span.links, status: span.status, resource: span.resource.attributes });
  }

  async stop(): Promise<void> {
    try {
      await this.provider.shutdown();
    } finally {
      trace.disable();
      context.disable();
    }
  }
}
