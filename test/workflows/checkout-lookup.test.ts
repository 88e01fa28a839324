// The timer paths of a Checkout purchase, on the time-skipping server: a payment intent whose
// session's event never comes looks the session up in Stripe (the companion emulator) after
// its wait, and a lookup that keeps failing ends in needs_attention within its window.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeClient } from '../../drivers/stripe.ts';
import { startStripeCompanion, type StripeCompanion } from '../../stack/stripe-companion.ts';
import { fulfillmentWorkflowId, type FulfillmentInput } from '../../workflows/contracts.ts';
import { emailKinds, purchaseRows } from '../helpers/purchases.ts';
import {
  checkoutPaymentIntentObject,
  checkoutPurchase,
  checkoutSessionObject,
  eventOf,
  lineItemObjects,
} from '../helpers/stripe-objects.ts';
import {
  createTimeSkippingWorker,
  recordStripeEvent,
  useTimeSkippingSuite,
} from '../helpers/time-skipping.ts';

const suite = useTimeSkippingSuite();
let companion: StripeCompanion;
beforeAll(async () => {
  companion = await startStripeCompanion();
});
afterAll(async () => {
  await companion?.close();
});

/** Records the intent's event and starts its run as the gateway would (awaiting the session). */
async function startCheckoutIntent(taskQueue: string) {
  const p = checkoutPurchase({
    email: `lookup-${Math.random().toString(36).slice(2)}@example.com`,
    priceIds: ['price_demo_durable_execution'],
  });
  const event = eventOf('payment_intent.succeeded', checkoutPaymentIntentObject(p));
  await recordStripeEvent(suite.db, event);
  const input: FulfillmentInput = {
    source: 'stripe',
    purchaseKey: p.paymentIntentId,
    paymentIntentId: p.paymentIntentId,
    stripeEventId: event.id,
    awaitCheckoutSession: true,
  };
  const handle = await suite.env.client.workflow.start('fulfillmentWorkflow', {
    taskQueue,
    workflowId: fulfillmentWorkflowId(p.paymentIntentId),
    args: [input],
  });
  return { p, handle };
}

describe('a Checkout payment intent whose session event never arrives', () => {
  it('looks the session and its line items up after the wait and fulfils from them', async () => {
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db, {
      stripe: createStripeClient('sk_test_lookup', companion.url),
    });
    await worker.runUntil(async () => {
      const { p, handle } = await startCheckoutIntent(taskQueue);
      companion.put(checkoutSessionObject(p));
      companion.putLineItems(p.sessionId, lineItemObjects(p));
      await handle.result();
      const rows = await purchaseRows(suite.db, p.paymentIntentId);
      expect(rows.orders).toMatchObject([{ checkout_session_id: p.sessionId }]);
      expect(rows.emails.map((e) => e.recipient)).toContain(p.email);
      expect(emailKinds(rows)).toContain('delivery');
    });
  }, 60_000);

  it('a lookup Stripe keeps failing (503) needs attention within the window, with the reason', async () => {
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db, {
      stripe: createStripeClient('sk_test_lookup', companion.url),
      stripeLookupWindowSeconds: 3,
    });
    companion.fail(/^\/v1\/checkout\/sessions$/, 503);
    try {
      await worker.runUntil(async () => {
        const { p, handle } = await startCheckoutIntent(taskQueue);
        const started = Date.now();
        await expect(handle.result()).rejects.toThrow();
        expect(Date.now() - started).toBeLessThan(45_000);
        const alert = await suite.db
          .selectFrom('alerts')
          .select(['summary'])
          .where(
            'alert_key',
            '=',
            `needs_attention:${fulfillmentWorkflowId(p.paymentIntentId)}:StripeLookupFailed`,
          )
          .executeTakeFirstOrThrow();
        expect(alert.summary).toContain('checkout.sessions.list');
        expect(alert.summary).toContain('503');
        expect(alert.summary).toContain('still failing after');
      });
    } finally {
      companion.clearFailures();
    }
  }, 60_000);
});
