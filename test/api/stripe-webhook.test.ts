import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signStripePayload } from '../../scripts/lib/stripe-events.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

async function recordedEvents(eventId: string) {
  return stack.db
    .selectFrom('webhook_events')
    .selectAll()
    .where('event_id', '=', eventId)
    .execute();
}

describe('POST /webhooks/stripe', () => {
  it('accepts a correctly signed event and records it in the inbox', async () => {
    const event = paymentSucceeded();
    const response = await postSignedEvent(stack.app, event, stack.webhookSecret);

    expect(response.statusCode).toBe(200);
    const [row] = await recordedEvents(event.id);
    expect(row).toMatchObject({
      type: 'payment_intent.succeeded',
      result: 'processed',
      livemode: false,
    });
    expect(row?.dispatched_at).toBeInstanceOf(Date);
    await stack.temporal.workflow.getHandle(`fulfillment-${event.data.object.id}`).result();
  });

  it('rejects a signature made with another secret with 400 and records nothing', async () => {
    const event = paymentSucceeded();
    const response = await postSignedEvent(stack.app, event, 'whsec_someone_else');

    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'invalid signature' });
    expect(await recordedEvents(event.id)).toHaveLength(0);
  });

  it('rejects a body altered after signing with 400 and records nothing', async () => {
    const event = paymentSucceeded();
    const signature = signStripePayload(JSON.stringify(event), stack.webhookSecret);
    const tampered = JSON.stringify({
      ...event,
      data: { object: { ...event.data.object, amount: 1 } },
    });
    const response = await stack.app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      payload: tampered,
    });

    expect(response.statusCode).toBe(400);
    expect(await recordedEvents(event.id)).toHaveLength(0);
  });

  it('rejects a request without a Stripe-Signature header with 400', async () => {
    const event = paymentSucceeded();
    const response = await stack.app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(event),
    });

    expect(response.statusCode).toBe(400);
    expect(await recordedEvents(event.id)).toHaveLength(0);
  });

  it('acknowledges event types it does not act on and records them as ignored', async () => {
    const event = { ...paymentSucceeded(), type: 'customer.created' };
    const response = await postSignedEvent(stack.app, event, stack.webhookSecret);

    expect(response.statusCode).toBe(200);
    expect((await recordedEvents(event.id))[0]?.result).toBe('ignored');
  });
});
