// Stripe Checkout sends `checkout.session.completed` and the `payment_intent.succeeded` of the
// same purchase in no fixed order; the intent Checkout creates carries no SKUs. Built from
// Stripe's own object shapes (current API version) against the real stack, with the Stripe
// companion emulator (stack/stripe-companion.ts) answering the Checkout calls localstripe lacks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { startStripeCompanion, type StripeCompanion } from '../../stack/stripe-companion.ts';
import { waitFor } from '../../stack/processes.ts';
import { createLocalStorage } from '../../drivers/storage/driver.ts';
import { showJob } from '../../support/jobs.ts';
import { disputeWorkflowId, fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import { emailKinds, purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { postSignedEvent } from '../helpers/stripe.ts';
import {
  checkoutPaymentIntentObject,
  checkoutPurchase,
  checkoutSessionObject,
  DELIVERED_API_VERSIONS,
  disputeObject,
  eventOf,
  lineItemObjects,
  type CheckoutPurchase,
} from '../helpers/stripe-objects.ts';

let companion: StripeCompanion;
let stack: TestStack;
beforeAll(async () => {
  companion = await startStripeCompanion({ upstream: inject('stripeApiUrl') });
  stack = await startTestStack({ env: { STRIPE_API_URL: companion.url } });
});
afterAll(async () => {
  await stack?.close();
  await companion?.close();
});

const PRICES = ['price_demo_durable_execution', 'price_demo_webhooks_workbook'];
const SKUS = ['course-webhooks-workbook', 'ebook-durable-execution'];

/** A Checkout purchase Stripe knows about: the session and its line items in the emulator. */
function purchaseInStripe(options: Partial<CheckoutPurchase> = {}) {
  const p = checkoutPurchase({
    email: `checkout-${Math.random().toString(36).slice(2)}@example.com`,
    priceIds: PRICES,
    ...options,
  });
  companion.put(checkoutSessionObject(p));
  companion.putLineItems(p.sessionId, lineItemObjects(p));
  return p;
}

async function orderSkus(p: CheckoutPurchase): Promise<string[]> {
  const rows = await purchaseRows(stack.db, p.paymentIntentId);
  const products = await stack.db
    .selectFrom('products')
    .select(['id', 'sku'])
    .where(
      'id',
      'in',
      rows.entitlements.map((e) => e.product_id),
    )
    .execute();
  return products.map((product) => product.sku).sort();
}

async function inboxResults(eventIds: string[]) {
  const rows = await stack.db
    .selectFrom('webhook_events')
    .select(['event_id', 'result', 'api_version'])
    .where('event_id', 'in', eventIds)
    .execute();
  return Object.fromEntries(rows.map((r) => [r.event_id, r]));
}

describe('a Checkout purchase, in either order', () => {
  it.each(DELIVERED_API_VERSIONS)(
    'payment intent first (no SKUs), then the session (API version %s): one fulfillment with the session’s items and email',
    async (apiVersion) => {
      const p = purchaseInStripe();
      const piEvent = eventOf(
        'payment_intent.succeeded',
        checkoutPaymentIntentObject(p),
        apiVersion,
      );
      const sessionEvent = eventOf(
        'checkout.session.completed',
        checkoutSessionObject(p),
        apiVersion,
      );
      // Stripe's lookup would find nothing yet: only the session's event can tell.
      companion.fail(/^\/v1\/checkout\/sessions$/, 404);
      try {
        expect((await postSignedEvent(stack.app, piEvent, stack.webhookSecret)).statusCode).toBe(
          200,
        );
        // The run waits for the session.
        const state = await stack.temporal.workflow
          .getHandle(fulfillmentWorkflowId(p.paymentIntentId))
          .describe();
        expect(state.status.name).toBe('RUNNING');
        expect(
          (await postSignedEvent(stack.app, sessionEvent, stack.webhookSecret)).statusCode,
        ).toBe(200);
        await settledFulfillment(stack.temporal, p.paymentIntentId);
      } finally {
        companion.clearFailures();
      }
      const rows = await purchaseRows(stack.db, p.paymentIntentId);
      expect(rows.orders).toHaveLength(1);
      expect(rows.orders[0]).toMatchObject({ checkout_session_id: p.sessionId });
      expect(await orderSkus(p)).toEqual(SKUS);
      expect(rows.emails.map((e) => [e.kind, e.recipient])).toEqual([['delivery', p.email]]);
      expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
      const inbox = await inboxResults([piEvent.id, sessionEvent.id]);
      // The session carried the purchase: it was used, not dropped as a duplicate.
      expect(inbox[sessionEvent.id]).toMatchObject({
        result: 'processed',
        api_version: apiVersion,
      });
      expect(inbox[piEvent.id]).toMatchObject({ result: 'processed', api_version: apiVersion });
    },
    60_000,
  );

  it('the session first, then the payment intent: the same one fulfillment', async () => {
    const p = purchaseInStripe();
    const sessionEvent = eventOf('checkout.session.completed', checkoutSessionObject(p));
    const piEvent = eventOf('payment_intent.succeeded', checkoutPaymentIntentObject(p));
    await postSignedEvent(stack.app, sessionEvent, stack.webhookSecret);
    await settledFulfillment(stack.temporal, p.paymentIntentId);
    await postSignedEvent(stack.app, piEvent, stack.webhookSecret);
    const rows = await purchaseRows(stack.db, p.paymentIntentId);
    expect(rows.orders).toHaveLength(1);
    expect(await orderSkus(p)).toEqual(SKUS);
    expect(emailKinds(rows)).toEqual(['delivery']);
    expect(rows.emails[0]!.recipient).toBe(p.email);
    const inbox = await inboxResults([piEvent.id, sessionEvent.id]);
    expect(inbox[sessionEvent.id]!.result).toBe('processed');
    expect(inbox[piEvent.id]!.result).toBe('duplicate');
  }, 60_000);

  it('a session with metadata.skus needs no lookup at all', async () => {
    const p = purchaseInStripe({ skus: ['ebook-idempotency-field-guide'] });
    const served = companion.served.length;
    await postSignedEvent(
      stack.app,
      eventOf('checkout.session.completed', checkoutSessionObject(p)),
      stack.webhookSecret,
    );
    await settledFulfillment(stack.temporal, p.paymentIntentId);
    expect(await orderSkus(p)).toEqual(['ebook-idempotency-field-guide']);
    expect(companion.served.slice(served).filter((r) => r.template.includes('checkout'))).toEqual(
      [],
    );
  }, 60_000);
});

describe('reason codes', () => {
  it('a dispute’s reason is stored with the adjustment and shown by jobs show', async () => {
    const p = purchaseInStripe({ skus: ['ebook-durable-execution'] });
    await postSignedEvent(
      stack.app,
      eventOf('checkout.session.completed', checkoutSessionObject(p)),
      stack.webhookSecret,
    );
    await settledFulfillment(stack.temporal, p.paymentIntentId);
    const dispute = disputeObject(p, { status: 'needs_response', reason: 'product_not_received' });
    await postSignedEvent(
      stack.app,
      eventOf('charge.dispute.created', dispute),
      stack.webhookSecret,
    );
    await waitFor('dispute applied', async () => {
      const rows = await purchaseRows(stack.db, p.paymentIntentId);
      return rows.adjustments.length === 1;
    });
    const rows = await purchaseRows(stack.db, p.paymentIntentId);
    expect(rows.adjustments).toMatchObject([
      { kind: 'dispute', external_id: dispute.id, reason: 'product_not_received' },
    ]);
    const timeline = await showJob(
      {
        db: stack.db,
        temporal: stack.temporal,
        temporalUi: { baseUrl: 'http://localhost:8233', namespace: 'default' },
        storage: createLocalStorage(stack.config.STORAGE_LOCAL_DIR),
      },
      p.paymentIntentId,
    );
    expect(JSON.stringify(timeline)).toContain('product_not_received');
    await stack.temporal.workflow.getHandle(disputeWorkflowId(dispute.id)).terminate('test done');
  }, 60_000);
});

describe('a Stripe lookup that cannot succeed ends in needs_attention, with the reason', () => {
  it('a session whose line items Stripe does not have (404): at once', async () => {
    const p = checkoutPurchase({ email: 'refused@example.com', priceIds: PRICES });
    // The session's event arrives, but Stripe has no such session to list items of.
    const sessionEvent = eventOf('checkout.session.completed', checkoutSessionObject(p));
    await postSignedEvent(stack.app, sessionEvent, stack.webhookSecret);
    const handle = stack.temporal.workflow.getHandle(fulfillmentWorkflowId(p.paymentIntentId));
    await expect(handle.result()).rejects.toThrow();
    const alert = await stack.db
      .selectFrom('alerts')
      .selectAll()
      .where(
        'alert_key',
        '=',
        `needs_attention:${fulfillmentWorkflowId(p.paymentIntentId)}:StripeLookupFailed`,
      )
      .executeTakeFirstOrThrow();
    expect(alert.summary).toContain(`checkout.sessions.listLineItems(${p.sessionId}) failed: 404`);
    expect(alert.summary).toContain('resource_missing');
  }, 60_000);
});
