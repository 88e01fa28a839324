import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Db } from '../db/database.ts';
import { countOverdueWebhookEvents } from '../db/queries/webhook-events.ts';

/** An event not dispatched this long after it arrived is waiting on a relay, not on its api. */
const OVERDUE_AFTER_SECONDS = 60;

/** What an operator watches on the gateway (exposed on the api's /metrics). */
export function createGatewayMetrics(registry: Registry, db: Db) {
  return {
    /**
     * Verifications by the secret that matched (`secret_index` in STRIPE_WEBHOOK_SECRETS order,
     * and a short fingerprint that never reveals the secret) or `none`. When the old secret's
     * count stops growing, the rotation is complete and it can be removed.
     */
    verifications: new Counter({
      name: 'stripe_webhook_verifications_total',
      help: 'Stripe webhook signature checks by matching secret',
      labelNames: ['secret_index', 'secret_fingerprint', 'outcome'] as const,
      registers: [registry],
    }),
    /**
     * Events by their settled result: counted when recorded for events that need no workflow
     * (and for redeliveries, as `duplicate`), when their dispatch settles for the others.
     */
    events: new Counter({
      name: 'webhook_events_total',
      help: 'Webhook events by provider, type and processing result',
      labelNames: ['provider', 'type', 'result'] as const,
      registers: [registry],
    }),
    /** Inbox commit to Temporal's confirmation, by who dispatched (`api` right after the ack, `relay`). */
    dispatchSeconds: new Histogram({
      name: 'webhook_dispatch_seconds',
      help: 'Seconds from recording a webhook event to its workflow start or signal being confirmed',
      labelNames: ['dispatched_by'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    overdue: new Gauge({
      name: 'webhook_events_undispatched',
      help: `Recorded webhook events still not handed to Temporal ${OVERDUE_AFTER_SECONDS} s after they arrived (from webhook_events)`,
      registers: [registry],
      async collect() {
        try {
          this.set(await countOverdueWebhookEvents(db, OVERDUE_AFTER_SECONDS));
        } catch (error) {
          console.warn(
            JSON.stringify({
              level: 'warn',
              msg: 'metrics scrape failed',
              metric: 'webhook_events_undispatched',
              error: String(error),
            }),
          );
        }
      },
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
