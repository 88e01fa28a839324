import type Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import { findReward } from '../db/queries/purchases.ts';
import { rewardPurchaseKey } from '../workflows/contracts.ts';
import { z } from 'zod';

/** What a purchase contains, whichever Stripe object described it. */
export interface Purchase {
  /** The payment intent id, or the checkout session id when there is no payment intent. */
  purchaseKey: string;
  paymentIntentId: string | null;
  checkoutSessionId: string | null;
  /** What was bought: SKUs (`metadata.skus`) or, for Checkout line items, Stripe price ids. */
  items: { skus: string[] } | { priceIds: string[] };
  /** The storefront's account id when the buyer was signed in (`metadata.user_id`). */
  userId: string | null;
  email: string;
  /** Null for rewards: nothing was paid. */
  amountTotal: number | null;
  currency: string | null;
  paidAt: Date;
}

export class InvalidPurchaseError extends Error {
  override name = 'InvalidPurchaseError';
}

const idOf = z
  .union([z.string(), z.object({ id: z.string() })])
  .nullish()
  .transform((value) => (value == null ? null : typeof value === 'string' ? value : value.id));
const metadata = z
  .record(z.string(), z.string())
  .nullish()
  .transform((m) => m ?? {});

/** The parts of a PaymentIntent a fulfillment reads; anything else in the payload is ignored. */
const paymentIntentSchema = z.object({
  object: z.literal('payment_intent'),
  id: z.string(),
  amount: z.number().int(),
  amount_received: z.number().int().nullish(),
  currency: z.string(),
  created: z.number().int(),
  receipt_email: z.string().nullish(),
  customer: idOf,
  latest_charge: idOf,
  metadata,
});

const checkoutSessionSchema = z.object({
  object: z.literal('checkout.session'),
  id: z.string(),
  payment_intent: idOf,
  amount_total: z.number().int().nullish(),
  currency: z.string().nullish(),
  created: z.number().int(),
  customer: idOf,
  customer_email: z.string().nullish(),
  customer_details: z.object({ email: z.string().nullish() }).nullish(),
  client_reference_id: z.string().nullish(),
  metadata,
});

function splitSkus(value: string | undefined): string[] {
  return [
    ...new Set(
      (value ?? '')
        .split(',')
        .map((sku) => sku.trim())
        .filter(Boolean),
    ),
  ];
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

async function customerEmail(stripe: Stripe, customerId: string | null): Promise<string | null> {
  if (!customerId) return null;
  const customer = await stripe.customers.retrieve(customerId);
  return customer.deleted ? null : (customer.email ?? null);
}

/**
 * Reads a purchase from the PaymentIntent or Checkout Session of a Stripe event, per DESIGN.md:
 * items from `metadata.skus` or the session's line items; the account from `metadata.user_id`;
 * the email from `receipt_email`, else the Customer's, else `metadata.email`, else the charge's
 * billing email. Stripe is asked only for what the payload itself does not say. A payment
 * intent created by Checkout carries no SKUs: its session is looked up and read instead.
 */
export async function readPurchase(stripe: Stripe, object: unknown): Promise<Purchase> {
  const kind = (object as { object?: unknown } | null)?.object;
  if (kind === 'checkout.session') return readCheckoutSession(stripe, object);
  if (kind !== 'payment_intent') {
    throw new InvalidPurchaseError(
      `a purchase is a payment_intent or checkout.session, not ${String(kind)}`,
    );
  }
  const parsed = paymentIntentSchema.safeParse(object);
  if (!parsed.success) {
    throw new InvalidPurchaseError(
      `payment intent payload is malformed: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
    );
  }
  const pi = parsed.data;
  const skus = splitSkus(pi.metadata['skus']);
  if (skus.length === 0) {
    const sessions = await stripe.checkout.sessions.list({ payment_intent: pi.id, limit: 1 });
    const session = sessions.data[0];
    if (!session)
      throw new InvalidPurchaseError(
        `payment intent ${pi.id} has no metadata.skus and no checkout session`,
      );
    return readCheckoutSession(stripe, session);
  }
  let email =
    pi.receipt_email ?? (await customerEmail(stripe, pi.customer)) ?? pi.metadata['email'] ?? null;
  if (!email && pi.latest_charge) {
    const charge = await stripe.charges.retrieve(pi.latest_charge);
    email = charge.billing_details.email;
  }
  if (!email) throw new InvalidPurchaseError(`payment intent ${pi.id} names no buyer email`);
  return {
    purchaseKey: pi.id,
    paymentIntentId: pi.id,
    checkoutSessionId: null,
    items: { skus },
    userId: pi.metadata['user_id'] || null,
    email: normaliseEmail(email),
    amountTotal: pi.amount_received ?? pi.amount,
    currency: pi.currency,
    paidAt: new Date(pi.created * 1000),
  };
}

async function readCheckoutSession(stripe: Stripe, object: unknown): Promise<Purchase> {
  const parsed = checkoutSessionSchema.safeParse(object);
  if (!parsed.success) {
    throw new InvalidPurchaseError(
      `checkout session payload is malformed: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
    );
  }
  const session = parsed.data;
  const skus = splitSkus(session.metadata['skus']);
  let items: Purchase['items'] = { skus };
  if (skus.length === 0) {
    const priceIds: string[] = [];
    for await (const line of stripe.checkout.sessions.listLineItems(session.id, { limit: 100 })) {
      if (line.price?.id) priceIds.push(line.price.id);
    }
    if (priceIds.length === 0)
      throw new InvalidPurchaseError(`checkout session ${session.id} has no items`);
    items = { priceIds };
  }
  const email =
    session.customer_details?.email ??
    session.customer_email ??
    (await customerEmail(stripe, session.customer)) ??
    session.metadata['email'] ??
    null;
  if (!email) throw new InvalidPurchaseError(`checkout session ${session.id} names no buyer email`);
  return {
    purchaseKey: session.payment_intent ?? session.id,
    paymentIntentId: session.payment_intent,
    checkoutSessionId: session.id,
    items,
    userId: session.metadata['user_id'] || session.client_reference_id || null,
    email: normaliseEmail(email),
    amountTotal: session.amount_total ?? 0,
    currency: session.currency ?? 'usd',
    paidAt: new Date(session.created * 1000),
  };
}

/** A mission or coupon unlock recorded by POST /v1/rewards, read as a purchase without amounts. */
export async function readRewardPurchase(db: Db, rewardId: string): Promise<Purchase> {
  const reward = await findReward(db, rewardId);
  if (!reward) throw new InvalidPurchaseError(`reward ${rewardId} is not recorded`);
  return {
    purchaseKey: rewardPurchaseKey(rewardId),
    paymentIntentId: null,
    checkoutSessionId: null,
    items: { skus: reward.skus },
    userId: reward.user_id,
    email: normaliseEmail(reward.email),
    amountTotal: null,
    currency: null,
    paidAt: reward.created_at,
  };
}
