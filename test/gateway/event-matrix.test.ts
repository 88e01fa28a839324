import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../stack/processes.ts';
import {
  buildChargeRefundedEvent,
  buildCheckoutSessionCompletedEvent,
  buildDisputeEvent,
  buildPaymentFailedEvent,
  stripeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { fulfillmentWorkflowId, refundWorkflowId } from '../../workflows/contracts.ts';
import {
  settledFulfillment,
  emailKinds,
  entitlementStatuses,
  purchaseRows,
  type PurchaseRows,
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

/** Delivers an event and returns where it ended once dispatched: its inbox row's result. */
const deliver = async (event: { id: string }) => {
  const response = await postSignedEvent(stack.app, event, stack.webhookSecret);
  expect(response.statusCode).toBe(200);
  const row = await stack.db
    .selectFrom('webhook_events')
    .select(['result', 'workflow_id'])
    .where('event_id', '=', event.id)
    .executeTakeFirstOrThrow();
  return {
    result: row.result,
    workflowId: row.workflow_id,
    duplicate: response.json<{ duplicate: boolean }>().duplicate,
  };
};
const fulfilled = (purchaseKey: string) => settledFulfillment(stack.temporal, purchaseKey);
const refunded = (refundId: string) =>
  stack.temporal.workflow.getHandle(refundWorkflowId(refundId)).result();

/** Waits until the purchase's rows satisfy `done` (dispute workflows stay open a while). */
async function settle(
  purchaseKey: string,
  done: (rows: PurchaseRows) => boolean,
): Promise<PurchaseRows> {
  let rows = await purchaseRows(stack.db, purchaseKey);
  await waitFor(
    `purchase ${purchaseKey} settled`,
    async () => {
      rows = await purchaseRows(stack.db, purchaseKey);
      return done(rows);
    },
    { timeoutMs: 30_000 },
  );
  return rows;
}

function newPurchase() {
  const paymentIntentId = stripeTestId('pi');
  return {
    paymentIntentId,
    success: paymentSucceeded({ paymentIntentId, email: `${paymentIntentId}@example.com` }),
  };
}

describe('event matrix', () => {
  it('fulfils a checkout session and its payment intent exactly once, whichever comes first', async () => {
    const { paymentIntentId, success } = newPurchase();
    const session = buildCheckoutSessionCompletedEvent({
      paymentIntentId,
      skus: ['ebook-durable-execution'],
    });

    const first = await deliver(session);
    await fulfilled(paymentIntentId);
    const second = await deliver(success);

    expect(first).toMatchObject({
      result: 'processed',
      workflowId: fulfillmentWorkflowId(paymentIntentId),
    });
    expect(second).toMatchObject({
      result: 'duplicate',
      workflowId: fulfillmentWorkflowId(paymentIntentId),
    });
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.orders).toHaveLength(1);
    expect(rows.orders[0]).toMatchObject({
      payment_intent_id: paymentIntentId,
      checkout_session_id: session.data.object.id,
    });
    expect(emailKinds(rows)).toEqual(['delivery']);
  });

  it('fulfils a 100 %-off checkout session that has no payment intent, keyed by the session', async () => {
    const session = buildCheckoutSessionCompletedEvent({
      skus: ['course-webhooks-workbook'],
      paymentStatus: 'no_payment_required',
    });
    const sessionId = session.data.object.id;

    expect(await deliver(session)).toMatchObject({ workflowId: fulfillmentWorkflowId(sessionId) });
    await fulfilled(sessionId);
    const rows = await purchaseRows(stack.db, sessionId);
    expect(rows.orders).toMatchObject([
      { payment_intent_id: null, checkout_session_id: sessionId, amount_total: 0 },
    ]);
    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
  });

  it('waits for an asynchronous checkout payment and fulfils it when it succeeds', async () => {
    const paymentIntentId = stripeTestId('pi');
    const unpaid = buildCheckoutSessionCompletedEvent({
      paymentIntentId,
      skus: ['ebook-durable-execution'],
      paymentStatus: 'unpaid',
    });
    expect(await deliver(unpaid)).toMatchObject({ result: 'processed', workflowId: null });
    expect((await purchaseRows(stack.db, paymentIntentId)).orders).toHaveLength(0);

    const succeeded = stripeEvent('checkout.session.async_payment_succeeded', {
      ...unpaid.data.object,
      payment_status: 'paid',
    });
    await deliver(succeeded);
    await fulfilled(paymentIntentId);
    expect((await purchaseRows(stack.db, paymentIntentId)).jobs).toMatchObject([
      { status: 'completed' },
    ]);
  });

  it('records a failed payment and never fulfils it', async () => {
    const paymentIntentId = stripeTestId('pi');
    const failed = buildPaymentFailedEvent({ paymentIntentId, skus: ['ebook-durable-execution'] });

    expect(await deliver(failed)).toMatchObject({ result: 'processed', workflowId: null });
    const [row] = await stack.db
      .selectFrom('webhook_events')
      .selectAll()
      .where('event_id', '=', failed.id)
      .execute();
    expect(row).toMatchObject({
      type: 'payment_intent.payment_failed',
      result: 'processed',
      dispatched_at: null,
    });
    expect((await purchaseRows(stack.db, paymentIntentId)).orders).toHaveLength(0);
  });

  it('revokes on a full refund after fulfillment and sends one cancellation email', async () => {
    const { paymentIntentId, success } = newPurchase();
    await deliver(success);
    await fulfilled(paymentIntentId);
    const refundId = stripeTestId('re');
    const refund = buildChargeRefundedEvent({ paymentIntentId, amountRefunded: 2900, refundId });

    expect(await deliver(refund)).toMatchObject({ workflowId: refundWorkflowId(refundId) });
    await refunded(refundId);
    await deliver(refund); // a redelivery changes nothing
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(entitlementStatuses(rows)).toEqual(['revoked']);
    expect(rows.jobs).toMatchObject([{ status: 'revoked' }]);
    expect(emailKinds(rows)).toEqual(['cancellation', 'delivery']);
    expect(rows.adjustments).toMatchObject([{ kind: 'refund', external_id: refundId, full: true }]);
  });

  it('records a partial refund and keeps access', async () => {
    const { paymentIntentId, success } = newPurchase();
    await deliver(success);
    await fulfilled(paymentIntentId);
    const refundId = stripeTestId('re');
    await deliver(buildChargeRefundedEvent({ paymentIntentId, amountRefunded: 900, refundId }));
    await refunded(refundId);

    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(entitlementStatuses(rows)).toEqual(['pending_claim']);
    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
    expect(rows.adjustments).toMatchObject([{ kind: 'refund', amount: 900, full: false }]);
    expect(emailKinds(rows)).toEqual(['delivery']);
  });

  it('ends revoked with one cancellation and no receipt when the refund arrives before the success', async () => {
    const { paymentIntentId, success } = newPurchase();
    const refundId = stripeTestId('re');
    await deliver(buildChargeRefundedEvent({ paymentIntentId, amountRefunded: 2900, refundId }));
    expect(await refunded(refundId)).toMatchObject({ orderId: null, revoked: false });

    await deliver(success);
    await fulfilled(paymentIntentId);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(entitlementStatuses(rows)).toEqual(['revoked']);
    expect(rows.jobs).toMatchObject([{ status: 'revoked' }]);
    expect(emailKinds(rows)).toEqual(['cancellation']);
  });

  it('suspends on a new dispute and restores access when the dispute is won', async () => {
    const { paymentIntentId, success } = newPurchase();
    await deliver(success);
    await fulfilled(paymentIntentId);
    const disputeId = stripeTestId('dp');

    await deliver(buildDisputeEvent({ paymentIntentId, disputeId, status: 'needs_response' }));
    await settle(paymentIntentId, (rows) => entitlementStatuses(rows).join() === 'suspended');
    await deliver(buildDisputeEvent({ paymentIntentId, disputeId, status: 'won' }));
    const rows = await settle(
      paymentIntentId,
      (r) => entitlementStatuses(r).join() === 'pending_claim',
    );

    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
    expect(rows.adjustments).toMatchObject([
      { kind: 'dispute', external_id: disputeId, status: 'won' },
    ]);
    expect(emailKinds(rows)).toEqual(['delivery']);
  });

  it('revokes when a dispute is lost, even if the closed event arrives before the created one', async () => {
    const { paymentIntentId, success } = newPurchase();
    await deliver(success);
    await fulfilled(paymentIntentId);
    const disputeId = stripeTestId('dp');

    await deliver(buildDisputeEvent({ paymentIntentId, disputeId, status: 'lost' }));
    await deliver(buildDisputeEvent({ paymentIntentId, disputeId, status: 'needs_response' }));
    const rows = await settle(
      paymentIntentId,
      (r) => entitlementStatuses(r).join() === 'revoked' && r.emails.length === 2,
    );
    // Give the late "created" event time to be applied, then check it reopened nothing.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const after = await purchaseRows(stack.db, paymentIntentId);
    expect(entitlementStatuses(after)).toEqual(['revoked']);
    expect(after.adjustments).toMatchObject([{ status: 'lost' }]);
    expect(rows.jobs).toMatchObject([{ status: 'revoked' }]);
    expect(emailKinds(after)).toEqual(['cancellation', 'delivery']);
  });

  it('acknowledges a type fulfillment does not depend on and records it as ignored', async () => {
    const event = stripeEvent('customer.created', { id: stripeTestId('cus'), object: 'customer' });
    expect(await deliver(event)).toMatchObject({ result: 'ignored', workflowId: null });
  });

  it('records a handled type with an unusable payload as failed, with the reason', async () => {
    const event = stripeEvent('charge.refunded', { id: stripeTestId('ch'), object: 'charge' });
    expect(await deliver(event)).toMatchObject({ result: 'failed' });
    const [row] = await stack.db
      .selectFrom('webhook_events')
      .selectAll()
      .where('event_id', '=', event.id)
      .execute();
    expect(row?.error).toContain('amount_refunded');
    const audit = await stack.db
      .selectFrom('audit_log')
      .select('action')
      .where('target', '=', event.id)
      .execute();
    expect(audit.map((a) => a.action)).toContain('webhook.failed');
  });
});
