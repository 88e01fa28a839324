import Stripe from 'stripe';
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

/** Stripe refused a lookup (404, an invalid request, a bad key): retrying cannot help. */
export class StripeLookupRefusedError extends Error {
  override name = 'StripeLookupRefusedError';
}

/** A lookup failed in a way that may pass (5xx, 429, a timeout, no answer): retried, bounded. */
export class StripeUnavailableError extends Error {
  override name = 'StripeUnavailableError';
}

/**
 * One Stripe API call a purchase needs, its failure classified: 4xx other than 409 and 429 is
 * Stripe saying no (the job needs attention at once, with the reason); anything else may pass.
 */
async function lookup<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeError)) throw error;
    const status = error.statusCode;
    const reason = `Stripe ${what} failed: ${status ?? 'no answer'} ${error.code ?? error.type}: ${error.message}`;
    if (status !== undefined && status >= 400 && status < 500 && status !== 409 && status !== 429)
      throw new StripeLookupRefusedError(reason);
    throw new StripeUnavailableError(reason);
  }
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
  const customer = await lookup(`customers.retrieve(${customerId})`, () =>
    stripe.customers.retrieve(customerId),
  );
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
    const sessions = await lookup(`checkout.sessions.list(payment_intent=${pi.id})`, () =>
      stripe.checkout.sessions.list({ payment_intent: pi.id, limit: 1 }),
    );
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
    const chargeId = pi.latest_charge;
    const charge = await lookup(`charges.retrieve(${chargeId})`, () =>
      stripe.charges.retrieve(chargeId),
    );
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
    const priceIds = await lookup(`checkout.sessions.listLineItems(${session.id})`, async () => {
      const ids: string[] = [];
      for await (const line of stripe.checkout.sessions.listLineItems(session.id, {
        limit: 100,
      })) {
        if (line.price?.id) ids.push(line.price.id);
      }
      return ids;
    });
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
