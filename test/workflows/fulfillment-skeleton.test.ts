import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeClient } from '../../drivers/stripe.ts';
import { waitFor } from '../../stack/processes.ts';
import { fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const uniqueEmail = (): string => `buyer-${randomBytes(5).toString('hex')}@example.com`;

const rowsOf = (paymentIntentId: string) => purchaseRows(stack.db, paymentIntentId);

describe('the skeleton fulfillment, end to end', () => {
  it('turns a signed payment_intent.succeeded into customer, order, entitlement, receipt and a completed job', async () => {
    const email = uniqueEmail();
    const event = paymentSucceeded({
      email,
      skus: ['ebook-durable-execution', 'course-webhooks-workbook'],
    });
    const paymentIntentId = event.data.object.id;

    const response = await postSignedEvent(stack.app, event, stack.webhookSecret);
    expect(response.statusCode).toBe(200);
    const result = await settledFulfillment(stack.temporal, paymentIntentId);
    expect(result.status).toBe('completed');

    const customer = await stack.db
      .selectFrom('customers')
      .selectAll()
      .where('email', '=', email)
      .executeTakeFirstOrThrow();
    expect(customer.status).toBe('pending_claim');
    const rows = await rowsOf(paymentIntentId);
    expect(rows.orders).toHaveLength(1);
    expect(rows.orders[0]).toMatchObject({
      source: 'stripe',
      amount_total: 2900,
      currency: 'eur',
      customer_id: customer.id,
    });
    expect(rows.entitlements.map((e) => e.status)).toEqual(['pending_claim', 'pending_claim']);
    expect(rows.jobs).toMatchObject([
      { status: 'completed', workflow_id: fulfillmentWorkflowId(paymentIntentId) },
    ]);
    expect(rows.jobEvents.map((e) => e.status)).toEqual([
      'pending_storage',
      'pending_entitlement',
      'pending_email',
      'completed',
    ]);

    expect(rows.emails).toHaveLength(1);
    const [receipt] = rows.emails;
    expect(receipt).toMatchObject({
      kind: 'delivery',
      recipient: email,
      status: 'sent',
      driver: 'outbox',
    });
    expect(receipt?.text).toContain('Durable Execution in Practice (PDF, EPUB)');
    expect(receipt?.text).toContain('Webhooks Course Workbook (PDF)');
    expect(receipt?.text).toContain('€29.00');

    const outbox = await stack.app.inject({ method: 'GET', url: '/dev/outbox' });
    expect(outbox.body).toContain(email);
  });

  it('is found in Temporal by FulfillmentStatus="completed"', async () => {
    const event = paymentSucceeded({ email: uniqueEmail() });
    const paymentIntentId = event.data.object.id;
    await postSignedEvent(stack.app, event, stack.webhookSecret);
    await settledFulfillment(stack.temporal, paymentIntentId);

    const query = `FulfillmentStatus="completed" AND PaymentIntentId="${paymentIntentId}"`;
    const found: string[] = [];
    // Visibility is eventually consistent: the list catches up within moments of completion.
    await waitFor(
      'workflow visible by FulfillmentStatus',
      async () => {
        found.length = 0;
        for await (const workflow of stack.temporal.workflow.list({ query }))
          found.push(workflow.workflowId);
        return found.length > 0;
      },
      { timeoutMs: 20_000 },
    );
    expect(found).toEqual([fulfillmentWorkflowId(paymentIntentId)]);
  });

  it('activates the entitlement at once for a buyer signed in to the storefront', async () => {
    const email = uniqueEmail();
    const event = paymentSucceeded({ email, userId: `auth0|${randomBytes(4).toString('hex')}` });
    await postSignedEvent(stack.app, event, stack.webhookSecret);
    await settledFulfillment(stack.temporal, event.data.object.id);

    const rows = await rowsOf(event.data.object.id);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['active']);
    const customer = await stack.db
      .selectFrom('customers')
      .selectAll()
      .where('email', '=', email)
      .executeTakeFirstOrThrow();
    expect(customer.status).toBe('active');
  });

  it('takes the buyer email from the Stripe Customer when the payment has no receipt_email', async () => {
    const email = uniqueEmail();
    const stripe = createStripeClient(stack.config.STRIPE_SECRET_KEY, stack.config.STRIPE_API_URL);
    const customer = await stripe.customers.create({ email });
    const event = paymentSucceeded({ email: null, customerId: customer.id });
    await postSignedEvent(stack.app, event, stack.webhookSecret);
    await settledFulfillment(stack.temporal, event.data.object.id);

    const rows = await rowsOf(event.data.object.id);
    expect(rows.emails.map((e) => e.recipient)).toEqual([email]);
  });

  it('delivers the same event 20 times concurrently and ends with one order, one entitlement and one email', async () => {
    const event = paymentSucceeded({ email: uniqueEmail() });
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => postSignedEvent(stack.app, event, stack.webhookSecret)),
    );
    expect(responses.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
    await settledFulfillment(stack.temporal, event.data.object.id);

    const rows = await rowsOf(event.data.object.id);
    expect(rows.orders).toHaveLength(1);
    expect(rows.entitlements).toHaveLength(1);
    expect(rows.emails).toHaveLength(1);
    expect(rows.jobs).toHaveLength(1);
    const inbox = await stack.db
      .selectFrom('webhook_events')
      .selectAll()
      .where('event_id', '=', event.id)
      .execute();
    expect(inbox).toHaveLength(1);
  });
});
