import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/database.ts';
import { countJobsByStatus } from '../db/queries/job-metrics.ts';

/**
 * What this process did, counted as it happens: both the api's and the worker's /metrics serve
 * it. Every metric here is a counter or a histogram of this process's own work, so a sum across
 * instances is the fleet's total, and a restart only resets what `rate()`/`increase()` absorb.
 * The one state read from Postgres, `fulfillment_jobs_active`, is a gauge the worker alone
 * exports (`registerJobMetrics`).
 */
export const processRegistry = new Registry();

/** Every send attempt by driver (the one that answered) and result: sent, failed, rejected. */
export const emailSends = new Counter({
  name: 'email_sends_total',
  help: 'Email send attempts by driver and result (sent, failed = retryable, rejected = permanent)',
  labelNames: ['driver', 'result'] as const,
  registers: [processRegistry],
});

/** Payment (orders.paid_at) to receipt sent, observed once per order when the receipt goes out. */
export const fulfillmentLatency = new Histogram({
  name: 'fulfillment_latency_seconds',
  help: 'Seconds from the payment to the receipt email being sent',
  // 300 s is the SLO threshold (docs/SLOS.md): keep a bucket boundary there.
  buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600],
  registers: [processRegistry],
});

/** Jobs this worker flagged `needs_attention` (a failure no retry can fix). */
export const fulfillmentJobsFailed = new Counter({
  name: 'fulfillment_jobs_failed_total',
  help: 'Fulfillment jobs flagged needs_attention (a failure retrying cannot fix)',
  registers: [processRegistry],
});

/**
 * How processing a received webhook ended — the webhook-processing SLI (docs/SLOS.md). Good:
 * `processed` (its workflow started or signalled), `ignored` (a type we do not act on),
 * `duplicate` (handled before). Bad: `failed` (recorded, but it cannot be processed),
 * `dispatch_failed` (a start Temporal did not take; the relay tries again and counts again),
 * `not_recorded` (answered 5xx: nothing was stored, Stripe retries).
 */
export const webhookProcessing = new Counter({
  name: 'webhook_processing_total',
  help: 'Webhook processing attempts by provider and outcome (processed, ignored, duplicate | failed, dispatch_failed, not_recorded)',
  labelNames: ['provider', 'outcome'] as const,
  registers: [processRegistry],
});
export type WebhookProcessingOutcome =
  'processed' | 'ignored' | 'duplicate' | 'failed' | 'dispatch_failed' | 'not_recorded';

/**
 * Download attempts — the download SLI (docs/SLOS.md). `issued` (a storage URL was handed
 * out) is good, `failed` (answered 5xx) is bad; `refused` (the entitlement is revoked,
 * suspended or still processing) is the service working as intended and counts as neither.
 */
export const downloads = new Counter({
  name: 'downloads_total',
  help: 'Download attempts by source (email_link, api) and outcome (issued, refused, failed)',
  labelNames: ['source', 'outcome'] as const,
  registers: [processRegistry],
});

/** Delivery events the email provider reported (Resend: email.delivered, email.bounced, …). */
export const emailDeliveryEvents = new Counter({
  name: 'email_delivery_events_total',
  help: 'Email delivery events reported by the provider, by provider and type',
  labelNames: ['provider', 'type'] as const,
  registers: [processRegistry],
});

/** Analytics events handed to an outside sink, by sink and result (exported, failed). */
export const analyticsExports = new Counter({
  name: 'analytics_exported_events_total',
  help: 'Analytics events sent to an outside sink, by sink and result (exported, failed = retried)',
  labelNames: ['sink', 'result'] as const,
  registers: [processRegistry],
});

/**
 * Every series an SLI or an alert divides is exported from the start at 0, in every process:
 * `rate()` cannot see the first increment of a series that appears with the value 1, so the
 * first failure after a restart would otherwise never count.
 */
for (const outcome of [
  'processed',
  'ignored',
  'duplicate',
  'failed',
  'dispatch_failed',
  'not_recorded',
] satisfies WebhookProcessingOutcome[])
  webhookProcessing.inc({ provider: 'stripe', outcome }, 0);
for (const source of ['email_link', 'api'])
  for (const outcome of ['issued', 'refused', 'failed']) downloads.inc({ source, outcome }, 0);
for (const driver of ['outbox', 'resend', 'smtp'])
  for (const result of ['sent', 'failed', 'rejected']) emailSends.inc({ driver, result }, 0);
for (const type of ['email.delivered', 'email.bounced', 'email.complained'])
  emailDeliveryEvents.inc({ provider: 'resend', type }, 0);
// The one exporter there is (ANALYTICS_SINK=segment); 0 when analytics stay in the table.
for (const result of ['exported', 'failed', 'dropped'])
  analyticsExports.inc({ sink: 'segment', result }, 0);

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
 * `fulfillment_jobs_active{status}`, read from Postgres on scrape (one grouped count over the
 * `fulfillment_jobs_status_idx` index, touching only the unfinished jobs). Only the worker
 * registers it: every worker reads the same table, so aggregate with `max()`, never `sum()`.
 * A database that does not answer leaves the last values.
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
}
