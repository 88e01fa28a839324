import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/database.ts';
import { countFailedJobs, countJobsByStatus } from '../db/queries/job-metrics.ts';

/**
 * Fulfillment metrics. Counters and histograms observed while working live in the process's
 * `fulfillmentRegistry` (the worker's /metrics serves it); the job gauges are read from
 * Postgres on every scrape (`registerJobMetrics`), so api and worker report the same numbers.
 */
export const fulfillmentRegistry = new Registry();

/** Every send attempt by driver (the one that answered) and result: sent, failed, rejected. */
export const emailSends = new Counter({
  name: 'email_sends_total',
  help: 'Email send attempts by driver and result (sent, failed = retryable, rejected = permanent)',
  labelNames: ['driver', 'result'] as const,
  registers: [fulfillmentRegistry],
});

/** Payment (orders.paid_at) to receipt sent, observed once per order when the receipt goes out. */
export const fulfillmentLatency = new Histogram({
  name: 'fulfillment_latency_seconds',
  help: 'Seconds from the payment to the receipt email being sent',
  buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600],
  registers: [fulfillmentRegistry],
});

/** The statuses `fulfillment_jobs_active` reports: every job not completed or revoked. */
const ACTIVE_STATUSES = [
  'pending_storage',
  'pending_entitlement',
  'pending_email',
  'pending_retry',
  'needs_attention',
] as const;

function logScrapeError(metric: string, error: unknown): void {
  console.warn(
    JSON.stringify({ level: 'warn', msg: 'metrics scrape failed', metric, error: String(error) }),
  );
}

/**
 * `fulfillment_jobs_active{status}` and `fulfillment_jobs_failed_total` (jobs that ever
 * reached needs_attention: `fulfillment_job_events` is append-only, so it only grows),
 * collected from Postgres on scrape. A database that does not answer leaves the last values.
 */
export function registerJobMetrics(registry: Registry, db: Db): void {
  new Gauge({
    name: 'fulfillment_jobs_active',
    help: 'Fulfillment jobs not completed or revoked, by status (from fulfillment_jobs)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      try {
        const rows = await countJobsByStatus(db, ACTIVE_STATUSES);
        for (const status of ACTIVE_STATUSES) {
          const row = rows.find((r) => r.status === status);
          this.set({ status }, Number(row?.count ?? 0));
        }
      } catch (error) {
        logScrapeError('fulfillment_jobs_active', error);
      }
    },
  });
  new Counter({
    name: 'fulfillment_jobs_failed_total',
    help: 'Fulfillment jobs that failed (reached needs_attention), from fulfillment_job_events',
    registers: [registry],
    async collect() {
      try {
        const failed = await countFailedJobs(db);
        this.reset();
        this.inc(failed);
      } catch (error) {
        logScrapeError('fulfillment_jobs_failed_total', error);
      }
    },
  });
}
