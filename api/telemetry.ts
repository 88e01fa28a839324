import { context, trace, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpMetrics } from '../observability/http-metrics.ts';
import { contextFromHeaders, markSpanFailed, SpanKind, tracer } from '../observability/tracing.ts';

/** Probes and scrapes: counted in the metrics, never a trace of their own. */
const UNTRACED_ROUTES = new Set(['/metrics', '/healthz', '/readyz']);

const routeOf = (request: FastifyRequest): string => request.routeOptions.url ?? 'unmatched';

/**
 * Per-request telemetry on every route: `http_requests_total` and
 * `http_request_duration_seconds` by route pattern, and a server span per request (`POST
 * /webhooks/stripe`) continuing the caller's W3C trace context, active while the handler runs
 * so the database queries, the Temporal start and the driver calls it makes are its children.
 * Spans name the route pattern only: paths carry download, claim and storage tokens.
 */
export function installRequestTelemetry(app: FastifyInstance, metrics: HttpMetrics): void {
  const spans = new WeakMap<FastifyRequest, Span>();

  app.addHook('onRequest', (request, _reply, done) => {
    const route = routeOf(request);
    if (!UNTRACED_ROUTES.has(route)) {
      spans.set(
        request,
        tracer.startSpan(
          `${request.method} ${route}`,
          {
            kind: SpanKind.SERVER,
            attributes: {
              'http.request.method': request.method,
              'http.route': route,
              'fulfillment.request_id': request.id,
            },
          },
          contextFromHeaders(request.headers),
        ),
      );
    }
    done();
  });

  // The body is parsed by now: from here on the handler runs inside the request's span.
  app.addHook('preHandler', (request, _reply, done) => {
    const span = spans.get(request);
    if (span) context.with(trace.setSpan(context.active(), span), done);
    else done();
  });

  // The cause of a 5xx, on its span (the answer itself never carries it).
  app.addHook('onError', (request, _reply, error, done) => {
    const span = spans.get(request);
    if (span) span.recordException(error);
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = routeOf(request);
    const status = reply.statusCode;
    metrics.requests.inc({ method: request.method, route, status_code: String(status) });
    metrics.duration.observe(
      { method: request.method, route, status_class: `${Math.floor(status / 100)}xx` },
      reply.elapsedTime / 1000,
    );
    const span = spans.get(request);
    if (span) {
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) markSpanFailed(span, new Error(`answered ${status}`));
      span.end();
      spans.delete(request);
    }
    done();
  });
}
