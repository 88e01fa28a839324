import type { FastifyInstance } from 'fastify';
import {
  buildPaymentIntentSucceededEvent,
  signStripePayload,
  type TestPurchase,
} from '../../scripts/lib/stripe-events.ts';

/** Posts a payload to `/webhooks/stripe` signed with `secret`, as Stripe would. */
export async function postSignedEvent(
  app: FastifyInstance,
  event: unknown,
  secret: string,
  timestamp?: number,
) {
  const payload = JSON.stringify(event);
  return app.inject({
    method: 'POST',
    url: '/webhooks/stripe',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': signStripePayload(payload, secret, timestamp),
    },
    payload,
  });
}

export function paymentSucceeded(options: Partial<TestPurchase> = {}) {
  return buildPaymentIntentSucceededEvent({ skus: ['ebook-durable-execution'], ...options });
}
