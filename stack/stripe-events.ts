import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import { recordWebhookEvent } from '../db/queries/webhook-events.ts';

/** A fresh id in Stripe's style, e.g. `pi_test_3f2a…`. */
export const stripeTestId = (prefix: string): string =>
  `${prefix}_test_${randomBytes(10).toString('hex')}`;

/** A Stripe event envelope around `object`, shaped like a webhook delivery. */
export function stripeEvent<T extends object>(
  type: string,
  object: T,
  eventId = stripeTestId('evt'),
) {
  return {
    id: eventId,
    object: 'event' as const,
    api_version: '2025-10-29.clover',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  };
}

export interface TestPurchase {
  paymentIntentId?: string;
  eventId?: string;
  skus: string[];
  email?: string | null;
  userId?: string;
  customerId?: string;
  amount?: number;
  currency?: string;
}

function paymentIntentObject(options: TestPurchase, status: string) {
  const metadata: Record<string, string> = { skus: options.skus.join(',') };
  if (options.userId) metadata['user_id'] = options.userId;
  const amount = options.amount ?? 2900;
  return {
    id: options.paymentIntentId ?? stripeTestId('pi'),
    object: 'payment_intent' as const,
    amount,
    amount_received: status === 'succeeded' ? amount : 0,
    currency: options.currency ?? 'eur',
    created: Math.floor(Date.now() / 1000),
    customer: options.customerId ?? null,
    latest_charge: null,
    livemode: false,
    metadata,
    receipt_email: options.email === undefined ? 'buyer@example.com' : options.email,
    status,
  };
}

/** `payment_intent.succeeded` for a purchase of `skus` (metadata.skus, as the storefront sets it). */
export function buildPaymentIntentSucceededEvent(options: TestPurchase) {
  return stripeEvent(
    'payment_intent.succeeded',
    paymentIntentObject(options, 'succeeded'),
    options.eventId,
  );
}

export function buildPaymentFailedEvent(options: TestPurchase) {
  return stripeEvent(
    'payment_intent.payment_failed',
    paymentIntentObject(options, 'requires_payment_method'),
  );
}

/** `checkout.session.completed` for the same purchase (same payment intent, or none). */
export function buildCheckoutSessionCompletedEvent(
  options: TestPurchase & {
    sessionId?: string;
    paymentStatus?: 'paid' | 'no_payment_required' | 'unpaid';
  },
) {
  const metadata: Record<string, string> = { skus: options.skus.join(',') };
  if (options.userId) metadata['user_id'] = options.userId;
  const paymentStatus = options.paymentStatus ?? 'paid';
  return stripeEvent('checkout.session.completed', {
    id: options.sessionId ?? stripeTestId('cs'),
    object: 'checkout.session' as const,
    payment_intent:
      paymentStatus === 'no_payment_required' ? null : (options.paymentIntentId ?? null),
    payment_status: paymentStatus,
    amount_total: paymentStatus === 'no_payment_required' ? 0 : (options.amount ?? 2900),
    currency: options.currency ?? 'eur',
    created: Math.floor(Date.now() / 1000),
    customer: options.customerId ?? null,
    customer_email: null,
    customer_details: { email: options.email ?? 'buyer@example.com' },
    client_reference_id: null,
    metadata,
  });
}

/** `charge.refunded` for a payment intent: `amountRefunded` of `amount` (full when equal). */
export function buildChargeRefundedEvent(options: {
  paymentIntentId: string;
  amount?: number;
  amountRefunded: number;
  refundId?: string;
  /** `refund.reason`: `requested_by_customer`, `duplicate`, `fraudulent`… */
  reason?: string;
}) {
  const amount = options.amount ?? 2900;
  return stripeEvent('charge.refunded', {
    id: stripeTestId('ch'),
    object: 'charge' as const,
    payment_intent: options.paymentIntentId,
    amount,
    amount_refunded: options.amountRefunded,
    refunded: options.amountRefunded >= amount,
    currency: 'eur',
    refunds: {
      object: 'list',
      data: [
        {
          id: options.refundId ?? stripeTestId('re'),
          amount: options.amountRefunded,
          ...(options.reason ? { reason: options.reason } : {}),
        },
      ],
    },
  });
}

/** `charge.dispute.created` (status needs_response) or `.closed` with its outcome. */
export function buildDisputeEvent(options: {
  paymentIntentId: string;
  disputeId: string;
  status: 'needs_response' | 'won' | 'lost';
}) {
  const type =
    options.status === 'needs_response' ? 'charge.dispute.created' : 'charge.dispute.closed';
  return stripeEvent(type, {
    id: options.disputeId,
    object: 'dispute' as const,
    payment_intent: options.paymentIntentId,
    charge: stripeTestId('ch'),
    amount: 2900,
    currency: 'eur',
    status: options.status,
  });
}

/** A `Stripe-Signature` header for `payload`, made by the Stripe SDK's own test helper. */
export function signStripePayload(payload: string, secret: string, timestamp?: number): string {
  return Stripe.webhooks.generateTestHeaderString({
    payload,
    secret,
    ...(timestamp === undefined ? {} : { timestamp }),
  });
}

/** Records a Stripe event in the inbox, as the gateway would, without dispatching it. */
export async function recordStripeEvent(
  db: Db,
  event: { id: string; type: string; created: number; data: { object: unknown } },
): Promise<string> {
  await recordWebhookEvent(db, {
    provider: 'stripe',
    event_id: event.id,
    type: event.type,
    api_version: null,
    livemode: false,
    event_created_at: new Date(event.created * 1000),
    payload: JSON.stringify(event),
    dispatched_at: null,
    processed_at: null,
    result: null,
    error: null,
    workflow_id: null,
  });
  return event.id;
}
