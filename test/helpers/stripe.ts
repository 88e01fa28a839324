import type { FastifyInstance } from 'fastify';
import type Stripe from 'stripe';
import { waitFor } from '../../stack/processes.ts';
import {
  buildPaymentIntentSucceededEvent,
  signStripePayload,
  type TestPurchase,
} from '../../stack/stripe-events.ts';

/**
 * Posts a payload to `/webhooks/stripe` signed with `secret`, as Stripe would, and waits until
 * the api has handed what it recorded to Temporal (the dispatch runs right after the ack, off
 * the request), so a test can look for the workflow at once.
 */
export async function postSignedEvent(
  app: FastifyInstance,
  event: unknown,
  secret: string,
  timestamp?: number,
) {
  const payload = JSON.stringify(event);
  const response = await app.inject({
    method: 'POST',
    url: '/webhooks/stripe',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': signStripePayload(payload, secret, timestamp),
    },
    payload,
  });
  await app.webhookDispatcher.idle();
  return response;
}

export function paymentSucceeded(options: Partial<TestPurchase> = {}) {
  return buildPaymentIntentSucceededEvent({ skus: ['ebook-durable-execution'], ...options });
}

/**
 * A real card payment in localstripe, confirmed and succeeded: localstripe emits (and, where a
 * webhook endpoint is registered, posts) its payment_intent.succeeded. Returns the intent id.
 */
export async function payInLocalstripe(
  stripe: Stripe,
  { email, skus, amount = 1900 }: { email: string; skus: string; amount?: number },
): Promise<string> {
  const customer = await stripe.customers.create({ email });
  const method = await stripe.paymentMethods.create({
    type: 'card',
    card: { number: '4242424242424242', exp_month: 12, exp_year: 2030, cvc: '123' },
  });
  const intent = await stripe.paymentIntents.create({
    amount,
    currency: 'eur',
    customer: customer.id,
    payment_method: method.id,
    metadata: { skus },
  });
  await stripe.paymentIntents.confirm(intent.id);
  await waitFor(
    'payment succeeded in localstripe',
    async () => (await stripe.paymentIntents.retrieve(intent.id)).status === 'succeeded',
  );
  return intent.id;
}
