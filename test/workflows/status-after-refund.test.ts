import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../stack/processes.ts';
import {
  buildChargeRefundedEvent,
  buildDisputeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { createLocalStorage } from '../../drivers/storage/driver.ts';
import { revokeAccess } from '../../support/entitlements.ts';
import { signalClaimed } from '../../temporal/workflows.ts';
import {
  disputeWorkflowId,
  fulfillmentWorkflowId,
  operatorRevocationWorkflowId,
  refundWorkflowId,
  searchAttributes,
} from '../../workflows/contracts.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

/** The workflow ids a Temporal UI query lists (visibility catches up within moments). */
async function listedBy(temporal: Client, query: string, expected: string): Promise<string[]> {
  const found: string[] = [];
  await waitFor(
    `${expected} listed by ${query}`,
    async () => {
      found.length = 0;
      for await (const workflow of temporal.workflow.list({ query }))
        found.push(workflow.workflowId);
      return found.includes(expected);
    },
    { timeoutMs: 20_000 },
  );
  return found;
}

/** A guest's purchase whose fulfillment run has closed: the guest claimed during reminders. */
async function closedFulfillment(): Promise<string> {
  const event = paymentSucceeded({ email: `closed-${stripeTestId('x')}@example.com` });
  const paymentIntentId = event.data.object.id;
  expect((await postSignedEvent(stack.app, event, stack.webhookSecret)).statusCode).toBe(200);
  await settledFulfillment(stack.temporal, paymentIntentId);
  expect(await signalClaimed(stack.temporal, paymentIntentId)).toBe(true);
  const handle = stack.temporal.workflow.getHandle(fulfillmentWorkflowId(paymentIntentId));
  expect(await handle.result()).toMatchObject({ status: 'completed' });
  return paymentIntentId;
}

describe('the Temporal UI shows a purchase’s true status after its fulfillment run closed', () => {
  it('finds a purchase refunded after its run closed by FulfillmentStatus="revoked"', async () => {
    const paymentIntentId = await closedFulfillment();
    const refundId = stripeTestId('re');
    const refund = buildChargeRefundedEvent({ paymentIntentId, refundId, amountRefunded: 2900 });
    expect((await postSignedEvent(stack.app, refund, stack.webhookSecret)).statusCode).toBe(200);

    const found = await listedBy(
      stack.temporal,
      `FulfillmentStatus="revoked" AND PaymentIntentId="${paymentIntentId}"`,
      refundWorkflowId(refundId),
    );
    expect(found).toEqual([refundWorkflowId(refundId)]);
    // The refund run carries what the fulfillment's did: source and the buyer's hashed email.
    const refundRun = await stack.temporal.workflow
      .getHandle(refundWorkflowId(refundId))
      .describe();
    const fulfillmentRun = await stack.temporal.workflow
      .getHandle(fulfillmentWorkflowId(paymentIntentId))
      .describe();
    expect(refundRun.typedSearchAttributes.get(searchAttributes.orderSource)).toBe('stripe');
    expect(refundRun.typedSearchAttributes.get(searchAttributes.customerEmail)).toBe(
      fulfillmentRun.typedSearchAttributes.get(searchAttributes.customerEmail),
    );
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.jobs).toMatchObject([{ status: 'revoked' }]);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['revoked']);
  });

  it('finds a purchase whose dispute was lost after its run closed', async () => {
    const paymentIntentId = await closedFulfillment();
    const disputeId = stripeTestId('dp');
    for (const status of ['needs_response', 'lost'] as const) {
      const event = buildDisputeEvent({ paymentIntentId, disputeId, status });
      expect((await postSignedEvent(stack.app, event, stack.webhookSecret)).statusCode).toBe(200);
    }
    const found = await listedBy(
      stack.temporal,
      `FulfillmentStatus="revoked" AND PaymentIntentId="${paymentIntentId}"`,
      disputeWorkflowId(disputeId),
    );
    expect(found).toEqual([disputeWorkflowId(disputeId)]);
    // The dispute's run carries the payment intent from its start (its open phase too).
    const dispute = await stack.temporal.workflow
      .getHandle(disputeWorkflowId(disputeId))
      .describe();
    expect(dispute.typedSearchAttributes.get(searchAttributes.paymentIntentId)).toBe(
      paymentIntentId,
    );
  });

  it('finds a purchase an operator revoked after its run closed, by its cancellation run', async () => {
    const paymentIntentId = await closedFulfillment();
    const change = await revokeAccess(
      {
        db: stack.db,
        temporal: stack.temporal,
        temporalUi: { baseUrl: 'http://localhost:8233', namespace: 'default' },
        storage: createLocalStorage(stack.config.STORAGE_LOCAL_DIR),
      },
      paymentIntentId,
      { operator: { name: 'test-operator', role: 'admin' }, reason: 'chargeback by phone' },
    );
    expect(change.cancellationWorkflowId).toBe(operatorRevocationWorkflowId(change.orderId));
    const found = await listedBy(
      stack.temporal,
      `FulfillmentStatus="revoked" AND PaymentIntentId="${paymentIntentId}"`,
      change.cancellationWorkflowId!,
    );
    expect(found).toEqual([change.cancellationWorkflowId]);
  });

  it('shows nothing new for a partial refund, which changes no status', async () => {
    const paymentIntentId = await closedFulfillment();
    const refundId = stripeTestId('re');
    const refund = buildChargeRefundedEvent({ paymentIntentId, refundId, amountRefunded: 900 });
    expect((await postSignedEvent(stack.app, refund, stack.webhookSecret)).statusCode).toBe(200);
    const handle = stack.temporal.workflow.getHandle(refundWorkflowId(refundId));
    await waitFor('the refund run exists', async () => {
      try {
        await handle.describe();
        return true;
      } catch {
        return false;
      }
    });
    await handle.result();
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(searchAttributes.fulfillmentStatus)).toBeUndefined();
    // What the dashboard shows (the payment intent) finds the refund's run beside the purchase's.
    expect(described.typedSearchAttributes.get(searchAttributes.paymentIntentId)).toBe(
      paymentIntentId,
    );
    const all = await listedBy(
      stack.temporal,
      `PaymentIntentId="${paymentIntentId}"`,
      refundWorkflowId(refundId),
    );
    expect(all.sort()).toEqual(
      [fulfillmentWorkflowId(paymentIntentId), refundWorkflowId(refundId)].sort(),
    );
    expect((await purchaseRows(stack.db, paymentIntentId)).jobs).toMatchObject([
      { status: 'completed' },
    ]);
  });
});
