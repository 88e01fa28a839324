import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailDriver } from '../../drivers/email/driver.ts';
import { createFailoverDriver } from '../../drivers/email/failover.ts';
import { createResendDriver } from '../../drivers/email/resend.ts';
import { createSmtpDriver } from '../../drivers/email/smtp.ts';
import { createOrderEmailActivities } from '../../activities/order-email.ts';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { fulfillmentStatusQuery } from '../../workflows/contracts.ts';
import { waitFor } from '../../stack/processes.ts';
import { purchaseRows } from '../helpers/purchases.ts';
import { startResendStandIn, type ResendStandIn } from '../../stack/resend-stand-in.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { testConfig } from '../helpers/stack.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';
import {
  createTimeSkippingWorker,
  recordStripeEvent,
  startFulfillmentOn,
  useTimeSkippingSuite,
} from '../helpers/time-skipping.ts';

const suite = useTimeSkippingSuite();
let standIn: ResendStandIn;
let sink: Awaited<ReturnType<typeof startSmtpSink>>;
beforeAll(async () => {
  standIn = await startResendStandIn();
  sink = await startSmtpSink();
});
afterAll(async () => {
  await standIn?.close();
  await sink?.close();
});

const message = (key: string, to = 'buyer@example.com') => ({
  idempotencyKey: key,
  from: 'Shop <orders@example.com>',
  to,
  subject: `Subject for ${key}`,
  html: '<p>hi</p>',
  text: 'hi',
});

/** Runs a purchase with `email` as the provider until the run waits on its reminders. */
async function fulfilWith(email: EmailDriver) {
  const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db, { email });
  const paymentIntentId = stripeTestId('pi');
  const buyer = `${paymentIntentId}@example.com`;
  const eventId = await recordStripeEvent(
    suite.db,
    paymentSucceeded({ paymentIntentId, email: buyer }),
  );
  await worker.runUntil(async () => {
    const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
    await waitFor(
      'delivered',
      async () => (await handle.query(fulfillmentStatusQuery)).phase !== 'fulfilling',
      { timeoutMs: 30_000 },
    );
  });
  return { paymentIntentId, buyer, rows: await purchaseRows(suite.db, paymentIntentId) };
}

describe('SMTP', () => {
  it('delivers to a real SMTP server with the idempotency key as Message-ID', async () => {
    const smtp = createSmtpDriver({ url: sink.url });
    const sent = await smtp.send(message('delivery:smtp-1:1', 'reader@example.com'));
    smtp.close();

    const mail = sink.received.at(-1)!;
    expect(mail.to).toEqual(['reader@example.com']);
    expect(mail.raw).toContain('Subject: Subject for delivery:smtp-1:1');
    expect(mail.raw).toContain('Message-ID: <delivery-smtp-1-1@fulfillment>');
    expect(sent).toEqual({ driver: 'smtp', providerMessageId: '<delivery-smtp-1-1@fulfillment>' });
  });
});

describe('failover', () => {
  it('switches to SMTP after the threshold of primary 5xx and stays there for the cooldown', async () => {
    const smtp = createSmtpDriver({ url: sink.url });
    let now = 0;
    const driver = createFailoverDriver(
      createResendDriver({ apiKey: 're_test_failover', baseUrl: standIn.url }),
      smtp,
      {
        threshold: 2,
        cooldownMs: 60_000,
        now: () => now,
      },
    );
    standIn.failNext(2, 500);
    await expect(driver.send(message('failover:1'))).rejects.toMatchObject({
      retryable: true,
      status: 500,
    });
    expect((await driver.send(message('failover:1'))).driver).toBe('smtp');
    expect((await driver.send(message('failover:2'))).driver).toBe('smtp');
    now = 61_000;
    expect((await driver.send(message('failover:3'))).driver).toBe('resend');
    smtp.close();
  });

  it('fulfils through the SMTP fallback while Resend is down, and the ledger says which driver sent', async () => {
    const smtp = createSmtpDriver({ url: sink.url });
    standIn.failNext(50, 503);
    const email = createFailoverDriver(
      createResendDriver({ apiKey: 're_test_failover', baseUrl: standIn.url }),
      smtp,
      {
        threshold: 2,
        cooldownMs: 60_000,
      },
    );
    const { buyer, rows } = await fulfilWith(email);
    smtp.close();
    standIn.recover();

    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
    expect(rows.emails).toMatchObject([
      { kind: 'delivery', status: 'sent', driver: 'smtp', attempts: 2 },
    ]);
    expect(rows.emails[0]?.last_error).toBeNull();
    expect(sink.received.filter((mail) => mail.to.includes(buyer))).toHaveLength(1);
  });
});

describe('the ledger', () => {
  it('never delivers a key twice, even when the worker died after Resend accepted the message', async () => {
    const resend = createResendDriver({ apiKey: 're_test_ledger', baseUrl: standIn.url });
    const { rows } = await fulfilWith(resend);
    const [delivery] = rows.emails;
    expect(delivery).toMatchObject({ status: 'sent', driver: 'resend' });
    expect(standIn.sent.filter((s) => s.idempotencyKey === delivery!.idempotency_key)).toHaveLength(
      1,
    );

    // The worker "died" after the provider accepted: the ledger never recorded the send.
    await suite.db
      .updateTable('email_deliveries')
      .set({ status: 'queued', provider_message_id: null, sent_at: null })
      .where('id', '=', delivery!.id)
      .execute();
    const activities = createOrderEmailActivities({
      db: suite.db,
      email: resend,
      emailFrom: testConfig().EMAIL_FROM,
      alerts: {},
    });
    await activities.sendOrderEmail({ orderId: delivery!.order_id!, kind: 'delivery' });
    await activities.sendOrderEmail({ orderId: delivery!.order_id!, kind: 'delivery' });

    const after = await suite.db
      .selectFrom('email_deliveries')
      .selectAll()
      .where('id', '=', delivery!.id)
      .executeTakeFirstOrThrow();
    expect(after).toMatchObject({
      status: 'sent',
      provider_message_id: delivery!.provider_message_id,
    });
    expect(standIn.sent.filter((s) => s.idempotencyKey === delivery!.idempotency_key)).toHaveLength(
      1,
    );
  });
});
