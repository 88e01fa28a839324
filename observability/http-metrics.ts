import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The api's HTTP surface, per route (the route's pattern, `/downloads/:token`, never the raw
 * path: tokens stay out of metrics, and a scanner's random paths are all `unmatched`).
 */
export function createHttpMetrics(registry: Registry) {
  return {
    /** Every answer, by method, route and status code; 5xx: `status_code=~"5.."`. */
    requests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      registers: [registry],
    }),
    /** How long answers took, by method, route and status class (2xx, 4xx, 5xx…). */
    duration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Seconds from receiving a request to answering it, by method, route and status class',
      labelNames: ['method', 'route', 'status_class'] as const,
      // From a cached readiness probe to a slow admin export; 0.5 s is the latency alert's line.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

export type HttpMetrics = ReturnType<typeof createHttpMetrics>;
