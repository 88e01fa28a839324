import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

const secret = `whsec_${randomBytes(24).toString('base64')}`;
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { RESEND_WEBHOOK_SECRET: secret } });
});
afterAll(async () => {
  await stack?.close();
});

/** Posts a Resend event signed the way Resend (Svix / Standard Webhooks) signs it. */
async function postResendEvent(type: string, emailId: string, signingSecret = secret) {
  const id = `msg_${randomBytes(8).toString('hex')}`;
  const payload = JSON.stringify({
    type,
    created_at: new Date().toISOString(),
    data: { email_id: emailId, to: ['x@example.com'] },
  });
  const timestamp = new Date();
  const signature = new Webhook(signingSecret).sign(id, timestamp, payload);
  return stack.app.inject({
    method: 'POST',
    url: '/webhooks/resend',
    headers: {
      'content-type': 'application/json',
      'svix-id': id,
      'svix-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'svix-signature': signature,
    },
    payload,
  });
}

async function deliveredPurchase() {
  const event = paymentSucceeded({ email: `bounce-${randomBytes(4).toString('hex')}@example.com` });
  await postSignedEvent(stack.app, event, stack.webhookSecret);
  await settledFulfillment(stack.temporal, event.data.object.id);
  const rows = await purchaseRows(stack.db, event.data.object.id);
  return { rows, emailId: rows.emails[0]!.provider_message_id! };
}

describe('POST /webhooks/resend', () => {
  it('marks a delivery delivered, and a later bounce wins over it', async () => {
    const { rows, emailId } = await deliveredPurchase();
    expect((await postResendEvent('email.delivered', emailId)).statusCode).toBe(200);
    const delivered = await stack.db
      .selectFrom('email_deliveries')
      .select('status')
      .where('id', '=', rows.emails[0]!.id)
      .executeTakeFirstOrThrow();
    expect(delivered.status).toBe('delivered');

    await postResendEvent('email.bounced', emailId);
    await postResendEvent('email.delivered', emailId);
    const bounced = await stack.db
      .selectFrom('email_deliveries')
      .select('status')
      .where('id', '=', rows.emails[0]!.id)
      .executeTakeFirstOrThrow();
    expect(bounced.status).toBe('bounced');
  });

  it('raises one alert for a bounced receipt and shows it on the job', async () => {
    const { rows, emailId } = await deliveredPurchase();
    await postResendEvent('email.bounced', emailId);
    await postResendEvent('email.bounced', emailId);

    const job = await stack.db
      .selectFrom('fulfillment_jobs')
      .selectAll()
      .where('id', '=', rows.jobs[0]!.id)
      .executeTakeFirstOrThrow();
    expect(job.last_error).toContain('receipt bounced');
    const events = await stack.db
      .selectFrom('fulfillment_job_events')
      .select('detail')
      .where('job_id', '=', job.id)
      .execute();
    expect(events.map((e) => e.detail)).toContainEqual({ event: 'email.bounced', emailId });
    const alerts = await stack.db
      .selectFrom('alerts')
      .select('kind')
      .where('job_id', '=', job.id)
      .execute();
    expect(alerts).toEqual([{ kind: 'email.bounced' }]);
  });

  it('rejects a bad signature with 400 and an audit row, changing nothing', async () => {
    const { rows, emailId } = await deliveredPurchase();
    const rejections = () =>
      stack.db
        .selectFrom('audit_log')
        .select('id')
        .where('action', '=', 'resend_webhook.invalid_signature')
        .execute();
    const before = (await rejections()).length;
    const response = await postResendEvent(
      'email.bounced',
      emailId,
      `whsec_${randomBytes(24).toString('base64')}`,
    );
    expect(response.statusCode).toBe(400);
    const row = await stack.db
      .selectFrom('email_deliveries')
      .select('status')
      .where('id', '=', rows.emails[0]!.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('sent');
    expect((await rejections()).length).toBe(before + 1);
  });
});
