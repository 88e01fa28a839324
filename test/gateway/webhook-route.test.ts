import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signStripePayload } from '../../stack/stripe-events.ts';
import { fulfillmentWorkflowId } from '../../workflows/contracts.ts';
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

async function postRaw(body: string, headers: Record<string, string>) {
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
  it('accepts an event signed with the new secret and records it with its metadata and audit trail', async () => {
    const event = paymentSucceeded();
    const response = await postSignedEvent(stack.app, event, newSecret);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      received: true,
      duplicate: false,
      result: 'processed',
    });
    const [row] = await inbox(event.id);
    expect(row).toMatchObject({
      provider: 'stripe',
      type: 'payment_intent.succeeded',
      livemode: false,
      api_version: '2025-10-29.clover',
      result: 'processed',
      workflow_id: fulfillmentWorkflowId(event.data.object.id),
    });
    expect(row?.payload).toEqual(event);
    expect(row?.event_created_at.getTime()).toBe(event.created * 1000);
    expect(row?.processed_at).toBeInstanceOf(Date);
    expect((await auditOfEvent(event.id)).map((a) => a.action)).toEqual([
      'webhook.received',
      'webhook.processed',
    ]);
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

  it('rejects a timestamp 301 s old and accepts one 299 s old or slightly in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    const stale = paymentSucceeded();
    const staleResponse = await postSignedEvent(stack.app, stale, newSecret, now - 301);
    expect(staleResponse.statusCode).toBe(400);
    expect(staleResponse.json<{ error: string }>().error).toContain('stale timestamp');
    expect(await inbox(stale.id)).toHaveLength(0);

    const recent = paymentSucceeded();
    expect((await postSignedEvent(stack.app, recent, newSecret, now - 299)).statusCode).toBe(200);
    const skewed = paymentSucceeded();
    expect((await postSignedEvent(stack.app, skewed, newSecret, now + 30)).statusCode).toBe(200);
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
    expect(await inbox(event.id)).toHaveLength(1);
    expect((await auditOfEvent(event.id)).map((a) => a.action)).toContain('webhook.duplicate');
  });
});

describe('POST /webhooks/stripe — protection', () => {
  it('answers 429 past the rate limit, so Stripe retries instead of losing the event', async () => {
    const limited = await startTestStack({
      env: { WEBHOOK_RATE_LIMIT_PER_MINUTE: '2' },
      worker: false,
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        const event = { ...paymentSucceeded(), type: 'customer.created' };
        statuses.push(
          (await postSignedEvent(limited.app, event, limited.webhookSecret)).statusCode,
        );
      }
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await limited.close();
    }
  });

  it('keeps signatures and payloads out of the logs', async () => {
    const lines: string[] = [];
    const { buildApp, loggerOptions } = await import('../../api/app.ts');
    const { appDepsFromConfig } = await import('../../scripts/lib/app-options.ts');
    const app = await buildApp({
      ...appDepsFromConfig(stack.config, stack.db, stack.temporal),
      relay: undefined,
      gapCheck: undefined,
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
