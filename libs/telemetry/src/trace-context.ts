import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';

export type { Attributes, Context, Span, SpanContext };
export { SpanKind };

const TRACER = 'fleet-server';

/**
 * Trace-context helpers over the OpenTelemetry API. Without the SDK (tracing off, or tests that
 * do not preload it) every one of them is a cheap no-op: no traceparent, non-recording spans.
 */
export const tracer = () => trace.getTracer(TRACER);

/** The W3C `traceparent` of the active span, for messages that cross processes. */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent;
}

/** The context a received `traceparent` continues (the root context when there is none). */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** The active context, to resume later work (a woken long poll) in its own request's trace. */
export const activeContext = (): Context => context.active();

export const runInContext = <T>(ctx: Context, fn: () => T): T => context.with(ctx, fn);

/** The span context of the active span, when it is a real (recording or remote) one. */
export function activeSpanContext(): SpanContext | undefined {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? sc : undefined;
}

/**
 * Names the active (incoming request) span by its route, as Express's instrumentation names the
 * spans of its routes: for routes served on node:http without Express. Nothing when not tracing.
 */
export function nameRequestSpan(method: string, route: string): void {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  span.setAttribute('http.route', route);
  span.updateName(`${method} ${route}`);
}

/**
 * Runs `fn` in a new active span (child of `parent`, default the active context) and ends it
 * when `fn` settles; a thrown error is recorded on the span and rethrown.
 */
export async function inSpan<T>(
  name: string,
  opts: { kind?: SpanKind; attributes?: Attributes; parent?: Context; links?: SpanContext[] },
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  const parent = opts.parent ?? context.active();
  return tracer().startActiveSpan(
    name,
    {
      kind: opts.kind ?? SpanKind.INTERNAL,
      ...(opts.attributes ? { attributes: opts.attributes } : {}),
      ...(opts.links?.length ? { links: opts.links.map((c) => ({ context: c })) } : {}),
    },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** Records a zero-length span in the active context, linked to the spans that caused it. */
export function markEvent(name: string, links: readonly SpanContext[], attributes?: Attributes): void {
  tracer()
    .startSpan(name, { links: links.map((c) => ({ context: c })), ...(attributes ? { attributes } : {}) })
    .end();
}
