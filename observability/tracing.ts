import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResourcesSync, envDetectorSync, Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NoopSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** Where spans go: nowhere (the default), an OTLP/HTTP collector, or the console. */
export const TRACE_EXPORTERS = ['none', 'otlp', 'console'] as const;
export type TraceExporterName = (typeof TRACE_EXPORTERS)[number];

export interface TracingOptions {
  /** OTEL_TRACES_EXPORTER. `otlp` reads OTEL_EXPORTER_OTLP_* from the environment itself. */
  exporter: TraceExporterName;
  /** `service.name` unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names one. */
  serviceName: string;
  /** Spans go to this exporter, one at a time (tests: an InMemorySpanExporter). */
  spanExporter?: SpanExporter;
}

/** The process's tracing: what the worker hands the workflow span sink, and how to stop. */
export interface Tracing {
  readonly enabled: boolean;
  /** Where finished spans go, including the workflows' (the worker's `exporter` sink). */
  readonly spanProcessor: SpanProcessor;
  readonly resource: Resource;
  /** Exports what is buffered (a test, before it reads the exporter). */
  forceFlush(): Promise<void>;
  /** Exports what is buffered and stops; the entry points call it last on shutdown. */
  shutdown(): Promise<void>;
}

const disabled: Tracing = {
  enabled: false,
  spanProcessor: new NoopSpanProcessor(),
  resource: Resource.empty(),
  forceFlush: async () => {},
  shutdown: async () => {},
};

let installed: Tracing = disabled;

/** W3C trace context: what requests, workflow headers and the inbox column carry. */
const w3c = new W3CTraceContextPropagator();

/**
 * Installs OpenTelemetry tracing for this process once (the first call wins; later calls return
 * it): a Node tracer provider with the async-hooks context manager and W3C trace context (no
 * baggage), its
 * sampler from OTEL_TRACES_SAMPLER (default: parent-based, always on), spans batched to OTLP
 * (OTEL_BSP_* tune the batch) or written one by one to the console or a given exporter. With
 * the `none` exporter nothing is installed and every span is a no-op.
 */
export function startTracing(options: TracingOptions): Tracing {
  if (installed.enabled) return installed;
  if (options.exporter === 'none' && !options.spanExporter) return disabled;
  const resource = Resource.default()
    .merge(new Resource({ 'service.name': options.serviceName }))
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the process's own name.
    .merge(detectResourcesSync({ detectors: [envDetectorSync] }));
  const spanProcessor = options.spanExporter
    ? new SimpleSpanProcessor(options.spanExporter)
    : options.exporter === 'console'
      ? new SimpleSpanProcessor(new ConsoleSpanExporter())
      : new BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // W3C trace context only: baggage from a public request must not ride into workflow
  // headers (stored in clear: headers bypass the payload codec) or downstream calls.
  provider.register({ propagator: w3c });
  installed = {
    enabled: true,
    spanProcessor,
    resource,
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
  return installed;
}

/** The tracing `startTracing` installed, or a disabled one. */
export function currentTracing(): Tracing {
  return installed;
}

/** The project's tracer: a no-op until `startTracing` installs a provider. */
export const tracer = trace.getTracer('fulfillment-orchestrator');

/**
 * Runs `fn` in a new span (a child of the active one) and ends it: an error marks the span
 * failed and is rethrown.
 */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes ?? {} },
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        markSpanFailed(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** Records `error` on `span` and marks it failed. */
export function markSpanFailed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/**
 * The active span as a W3C `traceparent` header value, or null when there is none (tracing
 * off): what a stored fact carries so work done for it later, in any process, joins its trace.
 */
export function currentTraceparent(): string | null {
  const carrier: Record<string, string> = {};
  w3c.inject(context.active(), carrier, defaultTextMapSetter);
  return carrier['traceparent'] ?? null;
}

/** The context a stored `traceparent` names (the active one when it is null or malformed). */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  if (!traceparent) return context.active();
  const extracted = w3c.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
  return trace.getSpanContext(extracted) ? extracted : context.active();
}

/** The active span's ids for a log line (`trace_id`, `span_id`), so a log finds its trace. */
export function traceLogFields(): Record<string, string> {
  const span = trace.getActiveSpan()?.spanContext();
  return span && trace.isSpanContextValid(span)
    ? { trace_id: span.traceId, span_id: span.spanId }
    : {};
}

/** Runs `fn` as a continuation of the trace `traceparent` names (see `currentTraceparent`). */
export function withTraceparent<T>(traceparent: string | null | undefined, fn: () => T): T {
  return context.with(contextFromTraceparent(traceparent), fn);
}

/** The context incoming HTTP headers carry (W3C `traceparent`/`tracestate` by default). */
export function contextFromHeaders(headers: Record<string, unknown>): Context {
  return propagation.extract(ROOT_CONTEXT, headers, {
    get: (carrier, key) => {
      const value = carrier[key];
      return typeof value === 'string' || Array.isArray(value) ? (value as string) : undefined;
    },
    keys: (carrier) => Object.keys(carrier),
  });
}

export { SpanKind };
