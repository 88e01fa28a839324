import type Stripe from 'stripe';
import { z } from 'zod';

/** The parts of a PaymentIntent a fulfillment reads; anything else in the payload is ignored. */
const paymentIntentSchema = z.object({
  id: z.string().startsWith('pi_'),
  amount: z.number().int(),
  amount_received: z.number().int().optional(),
  currency: z.string(),
  created: z.number().int(),
  receipt_email: z.string().nullish(),
  customer: z.union([z.string(), z.object({ id: z.string() })]).nullish(),
  latest_charge: z.union([z.string(), z.object({ id: z.string() })]).nullish(),
  metadata: z.record(z.string(), z.string()).default({}),
});

export interface Purchase {
  paymentIntentId: string;
  skus: string[];
  /** The storefront's account id when the buyer was signed in (`metadata.user_id`). */
  userId: string | null;
  amountTotal: number;
  currency: string;
  paidAt: Date;
}

/** A purchase as the payload states it, with every lead to the buyer's email. */
export interface PaymentIntentPurchase {
  purchase: Purchase;
  receiptEmail: string | null;
  metadataEmail: string | null;
  customerId: string | null;
  chargeId: string | null;
}

export class InvalidPurchaseError extends Error {
  override name = 'InvalidPurchaseError';
}

function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}

/** Reads a purchase from a PaymentIntent: `metadata.skus` (comma-separated) and the buyer. */
export function readPaymentIntentPurchase(raw: unknown): PaymentIntentPurchase {
  const parsed = paymentIntentSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidPurchaseError(`payment intent payload is malformed: ${parsed.error.message}`);
  }
  const pi = parsed.data;
  const skus = [
    ...new Set(
      (pi.metadata['skus'] ?? '')
        .split(',')
        .map((sku) => sku.trim())
        .filter(Boolean),
    ),
  ];
  if (skus.length === 0) {
    throw new InvalidPurchaseError(`payment intent ${pi.id} has no metadata.skus`);
  }
  return {
    purchase: {
      paymentIntentId: pi.id,
      skus,
      userId: pi.metadata['user_id'] || null,
      amountTotal: pi.amount_received ?? pi.amount,
      currency: pi.currency,
      paidAt: new Date(pi.created * 1000),
    },
    receiptEmail: pi.receipt_email || null,
    metadataEmail: pi.metadata['email'] || null,
    customerId: idOf(pi.customer),
    chargeId: idOf(pi.latest_charge),
  };
}

/**
 * The buyer's email, in DESIGN.md's order: `receipt_email`, else the Customer's email, else
 * `metadata.email`, else the charge's billing email. Stripe is asked only when the payload
 * itself does not say.
 */
export async function resolveBuyerEmail(
  stripe: Stripe,
  read: PaymentIntentPurchase,
): Promise<string> {
  if (read.receiptEmail) return normaliseEmail(read.receiptEmail);
  if (read.customerId) {
    const customer = await stripe.customers.retrieve(read.customerId);
    if (!customer.deleted && customer.email) return normaliseEmail(customer.email);
  }
  if (read.metadataEmail) return normaliseEmail(read.metadataEmail);
  if (read.chargeId) {
    const charge = await stripe.charges.retrieve(read.chargeId);
    if (charge.billing_details.email) return normaliseEmail(charge.billing_details.email);
  }
  throw new InvalidPurchaseError(
    `payment intent ${read.purchase.paymentIntentId} names no buyer email`,
  );
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}
