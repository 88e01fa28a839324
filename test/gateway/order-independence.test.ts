import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildChargeRefundedEvent,
  buildCheckoutSessionCompletedEvent,
  buildPaymentFailedEvent,
  stripeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { refundWorkflowId } from '../../workflows/contracts.ts';
import {
  emailKinds,
  entitlementStatuses,
  purchaseRows,
  settledFulfillment,
} from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
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
});
