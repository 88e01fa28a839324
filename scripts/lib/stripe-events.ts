import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';

export interface TestPaymentIntentOptions {
  paymentIntentId?: string;
  eventId?: string;
  skus: string[];
  email?: string | null;
  userId?: string;
  customerId?: string;
  amount?: number;
  currency?: string;
}

const randomId = (prefix: string): string => `${prefix}_test_${randomBytes(10).toString('hex')}`;

/** A `payment_intent.succeeded` event shaped like Stripe's, for the demo command and tests. */
export function buildPaymentIntentSucceededEvent(options: TestPaymentIntentOptions) {
  const created = Math.floor(Date.now() / 1000);
  const metadata: Record<string, string> = { skus: options.skus.join(',') };
  if (options.userId) metadata['user_id'] = options.userId;
  const amount = options.amount ?? 2900;
  return {
    id: options.eventId ?? randomId('evt'),
    object: 'event',
    api_version: '2025-10-29.clover',
    created,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'payment_intent.succeeded',
    data: {
      object: {
        id: options.paymentIntentId ?? randomId('pi'),
        object: 'payment_intent',
        amount,
        amount_received: amount,
        currency: options.currency ?? 'eur',
        created,
        customer: options.customerId ?? null,
        latest_charge: null,
        livemode: false,
        metadata,
        receipt_email: options.email === undefined ? 'buyer@example.com' : options.email,
        status: 'succeeded',
      },
    },
  };
}

/** A `Stripe-Signature` header for `payload`, made by the Stripe SDK's own test helper. */
export function signStripePayload(payload: string, secret: string, timestamp?: number): string {
  return Stripe.webhooks.generateTestHeaderString({
    payload,
    secret,
    ...(timestamp === undefined ? {} : { timestamp }),
  });
}
