import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../stack/processes.ts';
import {
  buildChargeRefundedEvent,
  buildDisputeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { refundWorkflowId } from '../../workflows/contracts.ts';
import { settledFulfillment } from '../helpers/purchases.ts';
import { startSmtpSink, type ReceivedMail } from '../helpers/smtp-sink.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

/**
 * The cancellation email a refund or a lost dispute sends, as the buyer's mail server receives
 * it over real SMTP: the amount with its currency, the reason in words, and when the money
 * arrives.
 */
let stack: TestStack;
let sink: Awaited<ReturnType<typeof startSmtpSink>>;
beforeAll(async () => {
  sink = await startSmtpSink();
  stack = await startTestStack({ env: { EMAIL_DRIVER: 'smtp', SMTP_URL: sink.url } });
});
afterAll(async () => {
  await stack?.close();
  await sink?.close();
});

/** The message's text as the reader sees it (quoted-printable undone). */
function readable(mail: ReceivedMail): string {
  const unfolded = mail.raw.replaceAll(/=\r?\n/g, '');
  return Buffer.from(
    unfolded.replaceAll(/=([0-9A-F]{2})/g, (_, hex: string) =>
      String.fromCharCode(parseInt(hex, 16)),
    ),
    'latin1',
  ).toString('utf8');
}

async function cancellationMailTo(buyer: string): Promise<string> {
  let found: ReceivedMail | undefined;
  await waitFor(
    `cancellation email to ${buyer}`,
    async () => {
      found = sink.received.find((m) => m.to.includes(buyer) && /was cancelled/.test(m.raw));
      return found !== undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  return readable(found!);
}

async function fulfilledPurchase() {
  const paymentIntentId = stripeTestId('pi');
  const buyer = `${paymentIntentId}@example.com`.toLowerCase();
  const response = await postSignedEvent(
    stack.app,
    paymentSucceeded({ paymentIntentId, email: buyer }),
    stack.webhookSecret,
  );
  expect(response.statusCode).toBe(200);
  await settledFulfillment(stack.temporal, paymentIntentId);
  return { paymentIntentId, buyer };
}

describe('cancellation email', () => {
  it('states the refunded amount, the reason and the 5–10 business days', async () => {
    const { paymentIntentId, buyer } = await fulfilledPurchase();
    const refundId = stripeTestId('re');
    const refund = buildChargeRefundedEvent({
      paymentIntentId,
      amount: 2900,
      amountRefunded: 2900,
      refundId,
      reason: 'requested_by_customer',
    });
    expect((await postSignedEvent(stack.app, refund, stack.webhookSecret)).statusCode).toBe(200);
    await stack.temporal.workflow.getHandle(refundWorkflowId(refundId)).result();

    const mail = await cancellationMailTo(buyer);
    expect(mail).toContain('Refunded: €29.00.');
    expect(mail).toContain('Reason: you asked for a refund.');
    expect(mail).toContain('within 5–10 business days');
  });

  it('states the disputed amount, the reason and that the bank returns it', async () => {
    const { paymentIntentId, buyer } = await fulfilledPurchase();
    const disputeId = stripeTestId('dp');
    const lost = buildDisputeEvent({ paymentIntentId, disputeId, status: 'lost' });
    (lost.data.object as { reason?: string }).reason = 'product_not_received';
    expect((await postSignedEvent(stack.app, lost, stack.webhookSecret)).statusCode).toBe(200);

    const mail = await cancellationMailTo(buyer);
    expect(mail).toContain('Disputed amount: €29.00.');
    expect(mail).toContain('Reason: you reported the order as not received.');
    expect(mail).toContain('Your bank returns the disputed amount');
    expect(mail).not.toContain('5–10 business days');
  });
});
