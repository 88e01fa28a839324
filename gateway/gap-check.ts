import type { Client } from '@temporalio/client';
import type Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import { findWebhookEvent } from '../db/queries/webhook-events.ts';
import { recordAudit } from '../db/queries/audit.ts';
import { dispatchInboxEvent } from './dispatch.ts';
import { recordStripeEvent } from './ingest.ts';
import { HANDLED_STRIPE_EVENT_TYPES } from './stripe-routing.ts';

export interface GapCheckResult {
  checked: number;
  redriven: string[];
}

export interface GapCheckDeps {
  db: Db;
  stripe: Stripe;
  /** Dispatch re-driven events here and now; without it a relay (in every api) dispatches them. */
  temporal?: Client;
}

/**
 * Asks Stripe's Events API for the events of the window and re-drives any handled event the
 * inbox never received (a delivery Stripe gave up on, or an endpoint misconfiguration): it is
 * recorded as the webhook would have recorded it (the raw bytes are the API's JSON) and
 * dispatched. Stripe keeps events for 30 days, so the window must stay within that.
 */
export async function checkStripeEventGaps(
  deps: GapCheckDeps,
  { since }: { since: Date },
): Promise<GapCheckResult> {
  const handled = new Set<string>(HANDLED_STRIPE_EVENT_TYPES);
  const result: GapCheckResult = { checked: 0, redriven: [] };
  const events = deps.stripe.events.list({
    created: { gte: Math.floor(since.getTime() / 1000) },
    limit: 100,
  });
  for await (const event of events) {
    if (!handled.has(event.type)) continue;
    result.checked += 1;
    const known = await findWebhookEvent(deps.db, 'stripe', event.id);
    if (known) continue;
    const recorded = await recordStripeEvent(
      deps.db,
      { rawBody: Buffer.from(JSON.stringify(event), 'utf8'), event, utf8: true },
      // Without a client here, due for the relay at once.
      { actor: 'gap-check', leaseSeconds: deps.temporal ? 60 : 0 },
    );
    if (recorded.toDispatch && deps.temporal) {
      await dispatchInboxEvent(deps.db, deps.temporal, recorded.row, recorded.toDispatch, {
        dispatchedBy: 'gap-check',
        attemptCounted: false,
        attempts: 1,
      });
    }
    await recordAudit(deps.db, {
      actor: 'gap-check',
      action: 'webhook.gap_redriven',
      target: event.id,
      detail: { type: event.type, workflowId: recorded.row.workflow_id },
    });
    result.redriven.push(event.id);
  }
  return result;
}
