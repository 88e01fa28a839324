import type { FastifyInstance } from 'fastify';
import {
  buildPaymentIntentSucceededEvent,
  signStripePayload,
  type TestPaymentIntentOptions,
} from '../../scripts/lib/stripe-events.ts';

/** Posts a payload to `/webhooks/stripe` signed with `secret`, as Stripe would. */
export async function postSignedEvent(app: FastifyInstance, event: unknown, secret: string) {
  const payload = JSON.stringify(event);
  return app.inject({
    method: 'POST',
    url: '/webhooks/stripe',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': signStripePayload(payload, secret),
    },
    payload,
  });
}

export function paymentSucceeded(options: Partial<TestPaymentIntentOptions> = {}) {
  return buildPaymentIntentSucceededEvent({ skus: ['ebook-durable-execution'], ...options });
}
