import { readFileSync } from 'node:fs';
import { stripeEvent, stripeTestId } from '../../stack/stripe-events.ts';

/**
 * Stripe objects in their real shape, built from Stripe's published fixtures
 * (test/fixtures/stripe/fixtures.json, trimmed from stripe/openapi's fixtures3.json) in the
 * current API version: a charge carries no `refunds` list, a payment intent names its
 * `latest_charge`, expandable fields are ids.
 */
const fixtures = JSON.parse(
  readFileSync(new URL('../fixtures/stripe/fixtures.json', import.meta.url), 'utf8'),
) as { resources: Record<string, Record<string, unknown>> };

/** The API version of the objects built here (the stripe SDK's pinned version). */
export const CURRENT_API_VERSION = '2026-10-28.endive';
/** Versions Stripe still delivers to older endpoints, which the service must read alike. */
export const DELIVERED_API_VERSIONS = [CURRENT_API_VERSION, '2025-10-29.clover', '2024-06-20'];

const now = () => Math.floor(Date.now() / 1000);

function fixture<T extends Record<string, unknown>>(type: string, overrides: T) {
  const base = structuredClone(fixtures.resources[type]) as { id: string; object: string };
  if (!base) throw new Error(`no Stripe fixture for ${type}`);
  return { ...base, created: now(), ...overrides } as { id: string; object: string } & Record<
    string,
    unknown
  > &
    T;
}

export interface CheckoutPurchase {
  paymentIntentId: string;
  sessionId: string;
  chargeId: string;
  email: string;
  /** Stripe price ids of the line items (the catalog's `products.stripe_price_id`). */
  priceIds: string[];
  /** `metadata.skus` on the session, when the storefront set it. */
  skus?: string[];
  amount?: number;
  currency?: string;
  customerId?: string | null;
}

export function checkoutPurchase(
  options: Partial<CheckoutPurchase> & { email: string },
): CheckoutPurchase {
  return {
    paymentIntentId: stripeTestId('pi'),
    sessionId: stripeTestId('cs'),
    chargeId: stripeTestId('ch'),
    priceIds: [],
    ...options,
  };
}

/** A completed, paid Checkout Session (from Stripe's fixture), its intent and charge as ids. */
export function checkoutSessionObject(p: CheckoutPurchase, paymentStatus = 'paid') {
  const fromFixture = fixtures.resources['checkout.session']!['customer_details'] as object;
  return fixture('checkout.session', {
    id: p.sessionId,
    amount_total: p.amount ?? 2900,
    currency: p.currency ?? 'eur',
    customer: p.customerId ?? null,
    customer_details: { ...fromFixture, email: p.email },
    metadata: p.skus ? { skus: p.skus.join(',') } : {},
    payment_intent: p.paymentIntentId,
    payment_status: paymentStatus,
    status: 'complete',
  });
}

/** The payment intent Checkout created: no metadata, `latest_charge` as an id. */
export function checkoutPaymentIntentObject(p: CheckoutPurchase, status = 'succeeded') {
  const amount = p.amount ?? 2900;
  return fixture('payment_intent', {
    id: p.paymentIntentId,
    amount,
    amount_received: status === 'succeeded' ? amount : 0,
    currency: p.currency ?? 'eur',
    customer: p.customerId ?? null,
    latest_charge: status === 'succeeded' ? p.chargeId : null,
    metadata: {},
    receipt_email: null,
    status,
  });
}

/** The charge: current versions send no `refunds` list. */
export function chargeObject(p: CheckoutPurchase, amountRefunded = 0) {
  const amount = p.amount ?? 2900;
  const billing = fixtures.resources['charge']!['billing_details'] as object;
  return fixture('charge', {
    id: p.chargeId,
    amount,
    amount_captured: amount,
    amount_refunded: amountRefunded,
    billing_details: { ...billing, email: p.email },
    captured: true,
    currency: p.currency ?? 'eur',
    customer: p.customerId ?? null,
    paid: true,
    payment_intent: p.paymentIntentId,
    refunded: amountRefunded >= amount,
    status: 'succeeded',
  });
}

/** One line item per price (Stripe's `item` fixture), with the price expanded as Stripe sends it. */
export function lineItemObjects(p: CheckoutPurchase) {
  const item = fixtures.resources['item']!;
  return p.priceIds.map((priceId) =>
    fixture('item', {
      id: stripeTestId('li'),
      currency: p.currency ?? 'eur',
      price: {
        ...(item['price'] as object),
        id: priceId,
        type: 'one_time',
        recurring: null,
        currency: p.currency ?? 'eur',
      },
    }),
  );
}

export function refundObject(
  p: CheckoutPurchase,
  options: { refundId?: string; amount: number; reason?: string | null },
) {
  return fixture('refund', {
    id: options.refundId ?? stripeTestId('re'),
    amount: options.amount,
    charge: p.chargeId,
    currency: p.currency ?? 'eur',
    payment_intent: p.paymentIntentId,
    reason: options.reason ?? null,
  });
}

export function disputeObject(
  p: CheckoutPurchase,
  options: { disputeId?: string; status: string; reason?: string },
) {
  return fixture('dispute', {
    id: options.disputeId ?? stripeTestId('dp'),
    amount: p.amount ?? 2900,
    charge: p.chargeId,
    currency: p.currency ?? 'eur',
    payment_intent: p.paymentIntentId,
    reason: options.reason ?? 'fraudulent',
    status: options.status,
  });
}

/** An event envelope (Stripe's fixture) for `object`, in `apiVersion`. */
export function eventOf(type: string, object: object, apiVersion = CURRENT_API_VERSION) {
  return { ...stripeEvent(type, object), api_version: apiVersion };
}
