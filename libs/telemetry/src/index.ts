export { tracingSchema, type TracingConfig } from './tracing-config';
export {
  activeContext,
  activeSpanContext,
  contextFromTraceparent,
  currentTraceparent,
  inSpan,
  markEvent,
  nameRequestSpan,
  runInContext,
  SpanKind,
  tracer,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
} from './trace-context';
export { shutdownTracing } from './tracing-shutdown';
