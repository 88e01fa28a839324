import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildChargeRefundedEvent,
  buildCheckoutSessionCompletedEvent,
  buildPaymentFailedEvent,
  stripeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { inject } from 'vitest';
import { startStripeCompanion, type StripeCompanion } from '../../stack/stripe-companion.ts';
import { refundIdOf, refundWorkflowId } from '../../workflows/contracts.ts';
import {
  chargeObject,
  checkoutPaymentIntentObject,
  checkoutPurchase,
  checkoutSessionObject,
  eventOf,
  lineItemObjects,
} from '../helpers/stripe-objects.ts';
import {
  emailKinds,
  entitlementStatuses,
  purchaseRows,
  settledFulfillment,
} from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

let stack: TestStack;
let companion: StripeCompanion;
beforeAll(async () => {
  // Stripe's Checkout calls (line items) are answered by the companion, the rest by localstripe.
  companion = await startStripeCompanion({ upstream: inject('stripeApiUrl') });
  stack = await startTestStack({ env: { STRIPE_API_URL: companion.url } });
});
afterAll(async () => {
  await stack?.close();
  await companion?.close();
});

/** A Checkout purchase: which session events Stripe sends, and what happens after. */
const checkoutScenario = fc.record({
  // `card`: completed (paid). `async`: completed (unpaid), then async_payment_succeeded.
  payment: fc.constantFrom('card', 'async'),
  // Whether the session carries metadata.skus or only line items (looked up in Stripe).
  sessionSkus: fc.boolean(),
  refund: fc.constantFrom('none', 'partial', 'full'),
  copies: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 4, maxLength: 4 }),
  order: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
  batch: fc.integer({ min: 1, max: 3 }),
});

/** What can happen to one purchase; the success event always does. */
const scenario = fc.record({
  withCheckoutSession: fc.boolean(),
  withLateFailure: fc.boolean(),
  withIgnoredEvent: fc.boolean(),
  refund: fc.constantFrom('none', 'partial', 'full'),
  // How often each event is delivered (Stripe delivers at least once).
  copies: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 5, maxLength: 5 }),
  // A permutation seed and how many deliveries go out at once.
  order: fc.array(fc.nat(), { minLength: 15, maxLength: 15 }),
  batch: fc.integer({ min: 1, max: 3 }),
});

describe('order independence', () => {
  it('reaches the same end state for any order and repetition of a purchase’s events', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const paymentIntentId = stripeTestId('pi');
        const skus = ['ebook-durable-execution', 'course-webhooks-workbook'];
        const email = `${paymentIntentId}@example.com`;
        const refundId = stripeTestId('re');
        const events = [
          paymentSucceeded({ paymentIntentId, email, skus }),
          s.withCheckoutSession
            ? buildCheckoutSessionCompletedEvent({ paymentIntentId, email, skus })
            : null,
          s.withLateFailure ? buildPaymentFailedEvent({ paymentIntentId, skus }) : null,
          s.withIgnoredEvent
            ? stripeEvent('charge.updated', { id: stripeTestId('ch'), object: 'charge' })
            : null,
          s.refund === 'none'
            ? null
            : buildChargeRefundedEvent({
                paymentIntentId,
                refundId,
                amountRefunded: s.refund === 'full' ? 2900 : 1000,
              }),
        ];
        const deliveries = events.flatMap((event, i) =>
          event ? Array<object>(s.copies[i] ?? 1).fill(event) : [],
        );
        const shuffled = deliveries
          .map((event, i) => ({ event, key: s.order[i % s.order.length]! * 31 + i }))
          .sort((a, b) => a.key - b.key)
          .map(({ event }) => event);
        for (let i = 0; i < shuffled.length; i += s.batch) {
          const batch = shuffled.slice(i, i + s.batch);
          const responses = await Promise.all(
            batch.map((event) => postSignedEvent(stack.app, event, stack.webhookSecret)),
          );
          expect(responses.map((r) => r.statusCode)).toEqual(batch.map(() => 200));
        }
        await settledFulfillment(stack.temporal, paymentIntentId);
        if (s.refund !== 'none')
          await stack.temporal.workflow.getHandle(refundWorkflowId(refundId)).result();

        const rows = await purchaseRows(stack.db, paymentIntentId);
        const revoked = s.refund === 'full';
        expect(rows.orders).toHaveLength(1);
        expect(rows.entitlements).toHaveLength(2);
        expect(entitlementStatuses(rows)).toEqual([revoked ? 'revoked' : 'pending_claim']);
        expect(rows.jobs).toMatchObject([{ status: revoked ? 'revoked' : 'completed' }]);
        expect(rows.adjustments.map((a) => a.full)).toEqual(s.refund === 'none' ? [] : [revoked]);
        const kinds = emailKinds(rows);
        expect(kinds.filter((k) => k === 'cancellation')).toHaveLength(revoked ? 1 : 0);
        // A refund that beat the fulfillment leaves no receipt to send; otherwise exactly one.
        expect(kinds.filter((k) => k === 'delivery').length).toBe(revoked ? kinds.length - 1 : 1);

        const inbox = await stack.db
          .selectFrom('webhook_events')
          .select(['result'])
          .where(
            'event_id',
            'in',
            events.flatMap((e) => (e ? [e.id] : [])),
          )
          .execute();
        expect(inbox).toHaveLength(events.filter(Boolean).length);
        expect(inbox.every((row) => row.result !== null)).toBe(true);
      }),
      // Each run is a real fulfillment on Temporal and Postgres; 30 cover every event mix
      // several times while keeping the suite within minutes on two cores.
      { numRuns: 30 },
    );
  }, 180_000);

  it('a Checkout purchase (the session and its payment intent, async payments, refunds) ends the same in any order', async () => {
    await fc.assert(
      fc.asyncProperty(checkoutScenario, async (s) => {
        const p = checkoutPurchase({
          email: `checkout-${Math.random().toString(36).slice(2)}@example.com`,
          priceIds: ['price_demo_durable_execution', 'price_demo_webhooks_workbook'],
          ...(s.sessionSkus
            ? { skus: ['ebook-durable-execution', 'course-webhooks-workbook'] }
            : {}),
        });
        companion.put(checkoutSessionObject(p));
        companion.putLineItems(p.sessionId, lineItemObjects(p));
        const amountRefunded = s.refund === 'full' ? 2900 : 1000;
        const refunded = chargeObject(p, amountRefunded);
        const events = [
          // The intent Checkout created: no SKUs, latest_charge as an id.
          eventOf('payment_intent.succeeded', checkoutPaymentIntentObject(p)),
          s.payment === 'card'
            ? eventOf('checkout.session.completed', checkoutSessionObject(p, 'paid'))
            : eventOf('checkout.session.completed', checkoutSessionObject(p, 'unpaid')),
          s.payment === 'async'
            ? eventOf('checkout.session.async_payment_succeeded', checkoutSessionObject(p, 'paid'))
            : null,
          // The current API version's charge.refunded: no refunds list.
          s.refund === 'none' ? null : eventOf('charge.refunded', refunded),
        ];
        const deliveries = events.flatMap((event, i) =>
          event ? Array<object>(s.copies[i] ?? 1).fill(event) : [],
        );
        const shuffled = deliveries
          .map((event, i) => ({ event, key: s.order[i % s.order.length]! * 31 + i }))
          .sort((a, b) => a.key - b.key)
          .map(({ event }) => event);
        for (let i = 0; i < shuffled.length; i += s.batch) {
          const batch = shuffled.slice(i, i + s.batch);
          const responses = await Promise.all(
            batch.map((event) => postSignedEvent(stack.app, event, stack.webhookSecret)),
          );
          expect(responses.map((r) => r.statusCode)).toEqual(batch.map(() => 200));
        }
        await settledFulfillment(stack.temporal, p.paymentIntentId);
        if (s.refund !== 'none')
          await stack.temporal.workflow
            .getHandle(refundWorkflowId(refundIdOf(refunded as never)))
            .result();

        const rows = await purchaseRows(stack.db, p.paymentIntentId);
        const revoked = s.refund === 'full';
        expect(rows.orders).toHaveLength(1);
        expect(rows.orders[0]).toMatchObject({ checkout_session_id: p.sessionId });
        expect(rows.entitlements).toHaveLength(2);
        expect(entitlementStatuses(rows)).toEqual([revoked ? 'revoked' : 'pending_claim']);
        expect(rows.jobs).toMatchObject([{ status: revoked ? 'revoked' : 'completed' }]);
        const kinds = emailKinds(rows);
        expect(kinds.filter((k) => k === 'cancellation')).toHaveLength(revoked ? 1 : 0);
        expect(kinds.filter((k) => k === 'delivery').length).toBe(revoked ? kinds.length - 1 : 1);
        // The session's email, whichever event came first.
        expect(new Set(rows.emails.map((e) => e.recipient))).toEqual(new Set([p.email]));
        const inbox = await stack.db
          .selectFrom('webhook_events')
          .select(['event_id', 'result'])
          .where(
            'event_id',
            'in',
            events.flatMap((e) => (e ? [e.id] : [])),
          )
          .execute();
        expect(inbox).toHaveLength(events.filter(Boolean).length);
        expect(inbox.every((row) => row.result !== null && row.result !== 'failed')).toBe(true);
      }),
      { numRuns: 15 },
    );
  }, 240_000);
});
