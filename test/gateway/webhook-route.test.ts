import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signStripePayload } from '../../stack/stripe-events.ts';
import { fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

const oldSecret = `whsec_old_${randomBytes(8).toString('hex')}`;
const newSecret = `whsec_new_${randomBytes(8).toString('hex')}`;

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    env: {
      STRIPE_WEBHOOK_SECRETS: `${oldSecret},${newSecret}`,
      WEBHOOK_BODY_LIMIT_BYTES: '4096',
    },
  });
});
afterAll(async () => {
  await stack?.close();
});

const inbox = (eventId: string) =>
  stack.db.selectFrom('webhook_events').selectAll().where('event_id', '=', eventId).execute();

const auditFor = (requestId: string) =>
  stack.db.selectFrom('audit_log').selectAll().where('request_id', '=', requestId).execute();

const auditOfEvent = (eventId: string) =>
  stack.db
    .selectFrom('audit_log')
    .select(['action', 'actor'])
    .where('target', '=', eventId)
    .orderBy('id')
    .execute();

async function purchaseRowsWhenSettled(purchaseKey: string) {
  await settledFulfillment(stack.temporal, purchaseKey);
  return purchaseRows(stack.db, purchaseKey);
}

async function postRaw(body: string | Buffer, headers: Record<string, string>) {
  const requestId = `req-${randomBytes(6).toString('hex')}`;
  const response = await stack.app.inject({
    method: 'POST',
    url: '/webhooks/stripe',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...headers },
    payload: body,
  });
  return { response, requestId };
}

describe('POST /webhooks/stripe — verification', () => {
  it('acknowledges after recording, then starts the workflow and records it as processed', async () => {
    const event = paymentSucceeded();
    const response = await postSignedEvent(stack.app, event, newSecret);

    expect(response.statusCode).toBe(200);
    // The ack waits for the inbox write only; the start comes right after it.
    expect(response.json()).toMatchObject({
      received: true,
      duplicate: false,
      eventId: event.id,
      result: 'pending',
      workflowId: fulfillmentWorkflowId(event.data.object.id),
    });
    const [row] = await inbox(event.id);
    expect(row).toMatchObject({
      provider: 'stripe',
      type: 'payment_intent.succeeded',
      livemode: false,
      api_version: '2025-10-29.clover',
      result: 'processed',
      dispatched_by: 'api',
      deliveries: 1,
      workflow_id: fulfillmentWorkflowId(event.data.object.id),
    });
    expect(row?.payload).toEqual(event);
    expect(row?.raw_body?.toString('utf8')).toBe(JSON.stringify(event));
    expect(row?.event_created_at.getTime()).toBe(event.created * 1000);
    expect(row?.processed_at).toBeInstanceOf(Date);
    expect(row?.dispatched_at).toBeInstanceOf(Date);
    expect((await auditOfEvent(event.id)).map((a) => a.action)).toEqual([
      'webhook.received',
      'webhook.processed',
    ]);
    expect(
      await stack.temporal.workflow
        .getHandle(fulfillmentWorkflowId(event.data.object.id))
        .describe(),
    ).toBeDefined();
  });

  it('still accepts the old secret during a rotation, and counts verifications per secret', async () => {
    const event = paymentSucceeded();
    expect((await postSignedEvent(stack.app, event, oldSecret)).statusCode).toBe(200);

    const metrics = (await stack.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(
      /stripe_webhook_verifications_total\{secret_index="0",secret_fingerprint="[0-9a-f]{8}",outcome="verified"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /stripe_webhook_verifications_total\{secret_index="1",secret_fingerprint="[0-9a-f]{8}",outcome="verified"\} [1-9]/,
    );
    expect(metrics).not.toContain(oldSecret);
  });

  it('rejects a signature made with an unknown secret: 400, an audit row, nothing recorded', async () => {
    const event = paymentSucceeded();
    const body = JSON.stringify(event);
    const { response, requestId } = await postRaw(body, {
      'stripe-signature': signStripePayload(body, 'whsec_attacker'),
    });

    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: string }>().error).toContain('no matching secret');
    expect(await inbox(event.id)).toHaveLength(0);
    expect(await auditFor(requestId)).toMatchObject([
      { action: 'webhook.invalid_signature', reason: 'no_matching_secret', actor: 'stripe' },
    ]);
  });

  it('rejects a body changed after signing', async () => {
    const event = paymentSucceeded();
    const signature = signStripePayload(JSON.stringify(event), newSecret);
    const tampered = JSON.stringify({
      ...event,
      data: { object: { ...event.data.object, amount: 1 } },
    });
    const { response, requestId } = await postRaw(tampered, { 'stripe-signature': signature });

    expect(response.statusCode).toBe(400);
    expect(await inbox(event.id)).toHaveLength(0);
    expect((await auditFor(requestId))[0]?.action).toBe('webhook.invalid_signature');
  });

  it('rejects a request without a Stripe-Signature header', async () => {
    const event = paymentSucceeded();
    const { response, requestId } = await postRaw(JSON.stringify(event), {});

    expect(response.statusCode).toBe(400);
    expect(await inbox(event.id)).toHaveLength(0);
    expect(await auditFor(requestId)).toMatchObject([{ action: 'webhook.missing_signature' }]);
  });

  it('rejects a timestamp 301 s old and accepts one 298 s old or slightly in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    const stale = paymentSucceeded();
    const staleResponse = await postSignedEvent(stack.app, stale, newSecret, now - 301);
    expect(staleResponse.statusCode).toBe(400);
    expect(staleResponse.json<{ error: string }>().error).toContain('stale timestamp');
    expect(await inbox(stale.id)).toHaveLength(0);

    // Timestamps taken right before each request: a loaded machine may take a second between.
    const at = () => Math.floor(Date.now() / 1000);
    const recent = paymentSucceeded();
    expect((await postSignedEvent(stack.app, recent, newSecret, at() - 298)).statusCode).toBe(200);
    const skewed = paymentSucceeded();
    expect((await postSignedEvent(stack.app, skewed, newSecret, at() + 30)).statusCode).toBe(200);
  });

  it('rejects a correctly signed body that is not JSON, naming the problem', async () => {
    const body = 'this is not json';
    const { response, requestId } = await postRaw(body, {
      'stripe-signature': signStripePayload(body, newSecret),
    });

    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'body is not JSON' });
    expect(await auditFor(requestId)).toMatchObject([{ action: 'webhook.malformed' }]);
  });

  it('rejects signed JSON that is not a Stripe event, naming the missing fields', async () => {
    const body = JSON.stringify({ id: 'evt_x', type: 'payment_intent.succeeded' });
    const { response } = await postRaw(body, {
      'stripe-signature': signStripePayload(body, newSecret),
    });

    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: string }>().error).toContain('created');
    expect(response.json<{ error: string }>().error).toContain('data');
    expect(await inbox('evt_x')).toHaveLength(0);
  });

  it('answers 413 with an audit row for a body over the size limit', async () => {
    const event = { ...paymentSucceeded(), padding: 'x'.repeat(5000) };
    const body = JSON.stringify(event);
    const { response, requestId } = await postRaw(body, {
      'stripe-signature': signStripePayload(body, newSecret),
    });

    expect(response.statusCode).toBe(413);
    expect(await inbox(event.id)).toHaveLength(0);
    expect(await auditFor(requestId)).toMatchObject([{ action: 'webhook.too_large' }]);
  });

  it('records a redelivery once, answers 200 and audits it as a duplicate', async () => {
    const event = paymentSucceeded();
    await postSignedEvent(stack.app, event, newSecret);
    const again = await postSignedEvent(stack.app, event, newSecret);

    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ duplicate: true, result: 'processed' });
    expect(await inbox(event.id)).toMatchObject([{ deliveries: 2 }]);
    expect((await auditOfEvent(event.id)).map((a) => a.action)).toContain('webhook.duplicate');
  });
});

describe('POST /webhooks/stripe — protection', () => {
  it('has no rate limit that could turn Stripe away: a burst from one address is all 200', async () => {
    // Far more than the old per-process limit of a tight configuration allowed, all at once.
    const events = Array.from({ length: 40 }, () => ({
      ...paymentSucceeded(),
      type: 'customer.created',
    }));
    const responses = await Promise.all(
      events.map((event) => postSignedEvent(stack.app, event, newSecret)),
    );
    expect(responses.map((response) => response.statusCode)).toEqual(events.map(() => 200));
  });

  it('keeps signatures and payloads out of the logs', async () => {
    const lines: string[] = [];
    const { buildApp, loggerOptions } = await import('../../api/app.ts');
    const { appDepsFromConfig } = await import('../../scripts/lib/app-options.ts');
    const app = await buildApp({
      ...appDepsFromConfig(stack.config, stack.db, stack.temporal),
      relay: undefined,
      logger: { ...loggerOptions('trace'), stream: { write: (line: string) => lines.push(line) } },
    });
    const event = paymentSucceeded({ email: 'secret-buyer@example.com' });
    const payload = JSON.stringify(event);
    const signature = signStripePayload(payload, stack.webhookSecret);
    await app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      payload,
    });
    await app.close();
    const log = lines.join('\n');
    expect(log).toContain('reqId');
    expect(log).not.toContain(signature.split('v1=')[1]);
    expect(log).not.toContain('secret-buyer@example.com');
    expect(log).not.toContain(stack.webhookSecret);
  });
});

/** A `Stripe-Signature` over exact bytes (the SDK's helper signs strings). */
function signBytes(body: Buffer, secret: string): string {
  const timestamp = Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(`${timestamp}.`), body]))
    .digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

describe('POST /webhooks/stripe — whatever Stripe signs is recorded as received', () => {
  it('records an event with a NUL character byte for byte, and fulfils it', async () => {
    const event = paymentSucceeded();
    const withNul = {
      ...event,
      data: { object: { ...event.data.object, description: 'gift\u0000wrapped' } },
    };
    const response = await postSignedEvent(stack.app, withNul, newSecret);

    expect(response.statusCode).toBe(200);
    const [row] = await inbox(event.id);
    // jsonb cannot hold U+0000: the parsed JSON is absent, the bytes are exact.
    expect(row).toMatchObject({ payload: null, result: 'processed' });
    expect(row?.raw_body?.equals(Buffer.from(JSON.stringify(withNul), 'utf8'))).toBe(true);
    const rows = await purchaseRowsWhenSettled(event.data.object.id);
    expect(rows.orders).toHaveLength(1);
    expect(rows.emails.map((email) => email.kind)).toEqual(['delivery']);
  });

  it('records a signed body that is not valid UTF-8 as failed, keeping its exact bytes', async () => {
    const event = { ...paymentSucceeded(), type: 'customer.updated' };
    const [before, after] = JSON.stringify({ ...event, note: 'X' }).split('X') as [string, string];
    const body = Buffer.concat([
      Buffer.from(before),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(after),
    ]);
    const { response } = await postRaw(body, { 'stripe-signature': signBytes(body, newSecret) });

    expect(response.statusCode).toBe(200);
    const [row] = await inbox(event.id);
    expect(row).toMatchObject({ payload: null, result: 'failed' });
    expect(row?.error).toContain('not valid UTF-8');
    expect(row?.raw_body?.equals(body)).toBe(true);
    expect((await auditOfEvent(event.id)).map((a) => a.action)).toEqual([
      'webhook.received',
      'webhook.failed',
    ]);
  });

  it('answers 400 naming the field when the event id itself holds a NUL, keeping the body in the audit row', async () => {
    const event = { ...paymentSucceeded(), id: 'evt_\u0000x' };
    const body = JSON.stringify(event);
    const { response, requestId } = await postRaw(body, {
      'stripe-signature': signStripePayload(body, newSecret),
    });

    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: string }>().error).toBe('invalid Stripe event: id');
    const [audit] = await auditFor(requestId);
    expect(audit).toMatchObject({ action: 'webhook.malformed' });
    // The escaped `\u0000` is plain text in the body: kept as text, exactly.
    expect(audit?.detail).toMatchObject({ rawBody: body });
  });
});
