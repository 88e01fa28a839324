import { z } from 'zod';
import type { Db } from '../db/database.ts';
import {
  findPurchaseStatus,
  findStripeEventType,
  recordPaymentAdjustment,
  revokeRewardRows,
  type AppliedAdjustmentRows,
} from '../db/queries/adjustments.ts';
import type { NewPaymentAdjustment } from '../db/tables/payment-adjustments.ts';
import {
  refundIdOf,
  type RewardRevocationInput,
  type AppliedAdjustment,
  type OperatorRevocationInput,
  type PaymentAdjustmentInput,
  type PurchaseStatusAttributes,
} from '../workflows/contracts.ts';
import {
  customerEmailSearchValue,
  DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
} from '../security/search-attribute-hash.ts';
import { loadStripeEventObject, permanentFailure } from './fulfillment.ts';

const chargeSchema = z.object({
  id: z.string(),
  payment_intent: z
    .union([z.string(), z.object({ id: z.string() })])
    .transform((v) => (typeof v === 'string' ? v : v.id)),
  amount: z.number().int(),
  amount_refunded: z.number().int(),
  currency: z.string().nullish(),
  refunds: z
    .object({ data: z.array(z.object({ id: z.string(), reason: z.string().nullish() })) })
    .nullish(),
});
const disputeSchema = z.object({
  id: z.string(),
  payment_intent: z
    .union([z.string(), z.object({ id: z.string() })])
    .transform((v) => (typeof v === 'string' ? v : v.id)),
  amount: z.number().int(),
  currency: z.string().nullish(),
  status: z.string(),
  reason: z.string().nullish(),
});

/** Stripe's dispute statuses, reduced to what access depends on. */
function disputeOutcome(status: string): 'open' | 'won' | 'lost' {
  if (status === 'lost') return 'lost';
  // `warning_closed`: an inquiry closed without becoming a dispute — nothing was lost.
  if (status === 'won' || status === 'warning_closed') return 'won';
  return 'open';
}

function readAdjustment(
  type: string,
  object: unknown,
  stripeEventId: string,
): NewPaymentAdjustment {
  if (type === 'charge.refunded') {
    const charge = chargeSchema.parse(object);
    return {
      kind: 'refund',
      external_id: refundIdOf(charge),
      purchase_key: charge.payment_intent,
      amount: charge.amount_refunded,
      currency: charge.currency ?? null,
      full: charge.amount_refunded >= charge.amount,
      status: 'succeeded',
      // Only API versions that list the charge's refunds say why; later events keep a known reason.
      reason: charge.refunds?.data[0]?.reason ?? null,
      stripe_event_id: stripeEventId,
    };
  }
  if (type === 'charge.dispute.created' || type === 'charge.dispute.closed') {
    const dispute = disputeSchema.parse(object);
    return {
      kind: 'dispute',
      external_id: dispute.id,
      purchase_key: dispute.payment_intent,
      amount: dispute.amount,
      currency: dispute.currency ?? null,
      full: true,
      // A closed event that arrives first is final; a created event never reopens it.
      status: type === 'charge.dispute.created' ? 'open' : disputeOutcome(dispute.status),
      reason: dispute.reason ?? null,
      stripe_event_id: stripeEventId,
    };
  }
  throw permanentFailure('InvalidPurchase', `${type} is not a refund or dispute event`);
}

/** Refunds and disputes: record the fact, then bring the order's entitlements in line with it. */
export function createAdjustmentActivities({
  db,
  searchAttributeHashKey = DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
}: {
  db: Db;
  /** Keys the `CustomerEmail` search attribute's hash (SEARCH_ATTRIBUTE_HASH_KEY). */
  searchAttributeHashKey?: string | undefined;
}) {
  const shown = (
    change: NonNullable<AppliedAdjustmentRows['statusChange']>,
  ): PurchaseStatusAttributes => ({
    status: change.status,
    orderSource: change.source,
    paymentIntentId: change.paymentIntentId,
    customerEmailSearchValue: customerEmailSearchValue(change.email, searchAttributeHashKey),
  });
  const applied = ({ statusChange, ...rows }: AppliedAdjustmentRows): AppliedAdjustment => ({
    ...rows,
    statusChange: statusChange ? shown(statusChange) : null,
  });
  return {
    /**
     * Records a refund or dispute event as a fact of its purchase and re-derives the order's
     * entitlements. Before the purchase is recorded, only the fact is stored: the
     * fulfillment applies it when it records the order.
     */
    async applyPaymentAdjustment({
      stripeEventId,
    }: PaymentAdjustmentInput): Promise<AppliedAdjustment> {
      const type = await findStripeEventType(db, stripeEventId);
      const object = await loadStripeEventObject(db, stripeEventId);
      let adjustment: NewPaymentAdjustment;
      try {
        adjustment = readAdjustment(type ?? '', object, stripeEventId);
      } catch (error) {
        if (error instanceof z.ZodError)
          throw permanentFailure('InvalidPurchase', `${stripeEventId}: ${error.message}`);
        throw error;
      }

      return applied(await recordPaymentAdjustment(db, adjustment));
    },

    /**
     * Takes a reward back: records the revocation fact, revokes the entitlements and writes
     * the mission audit entry (`mission.reward_revoked`) once, however often it is retried.
     */
    async revokeReward({
      rewardId,
      reason,
      actor,
    }: RewardRevocationInput): Promise<AppliedAdjustment> {
      const revoked = await revokeRewardRows(db, { rewardId, reason, actor });
      if (!revoked) throw permanentFailure('InvalidPurchase', `reward ${rewardId} is not recorded`);
      return applied(revoked);
    },

    /**
     * The search attributes of an order's purchase as they stand (after an operator's
     * revocation): for the revocation workflow to carry. Null for an order without a job.
     */
    async describePurchaseStatus({
      orderId,
    }: OperatorRevocationInput): Promise<PurchaseStatusAttributes | null> {
      const purchase = await findPurchaseStatus(db, orderId);
      return purchase ? shown(purchase) : null;
    },
  };
}
