import type Stripe from 'stripe';
import { recordAudit } from '../db/queries/audit.ts';
import { findWebhookEvent } from '../db/queries/webhook-events.ts';
import { ingestStripeEvent, type IngestDeps } from './ingest.ts';
import { HANDLED_STRIPE_EVENT_TYPES } from './stripe-routing.ts';

export interface GapCheckResult {
  checked: number;
  redriven: string[];
}

/**
 * Asks Stripe's Events API for the events of the window and re-drives any handled event the
 * inbox never received (a delivery Stripe gave up on, or an endpoint misconfiguration).
 * Stripe keeps events for 30 days, so the window must stay within that.
 */
export async function checkStripeEventGaps(
  deps: IngestDeps & { stripe: Stripe },
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
    const outcome = await ingestStripeEvent(deps, event, JSON.stringify(event), {
      actor: 'gap-check',
    });
    await recordAudit(deps.db, {
      actor: 'gap-check',
      action: 'webhook.gap_redriven',
      target: event.id,
      detail: { type: event.type, result: outcome.result, workflowId: outcome.workflowId },
    });
    result.redriven.push(event.id);
  }
  return result;
}
