import { sql } from 'kysely';
import { z } from 'zod';
import type { Db, DbExecutor } from '../db/database.ts';
import { recordAudit } from '../db/queries/audit.ts';
import { lockPurchase, reconcileOrderEntitlements } from '../db/queries/entitlements.ts';
import { transitionJob } from '../db/queries/fulfillment.ts';
import type { NewPaymentAdjustment } from '../db/tables/payment-adjustments.ts';
import {
  rewardPurchaseKey,
  refundIdOf,
  type RewardRevocationInput,
  type AppliedAdjustment,
  type PaymentAdjustmentInput,
} from '../workflows/contracts.ts';
import { loadStripeEventObject, permanentFailure } from './fulfillment.ts';

const chargeSchema = z.object({
  id: z.string(),
  payment_intent: z
    .union([z.string(), z.object({ id: z.string() })])
    .transform((v) => (typeof v === 'string' ? v : v.id)),
  amount: z.number().int(),
  amount_refunded: z.number().int(),
  currency: z.string().nullish(),
  refunds: z.object({ data: z.array(z.object({ id: z.string() })) }).nullish(),
});
const disputeSchema = z.object({
  id: z.string(),
  payment_intent: z
    .union([z.string(), z.object({ id: z.string() })])
    .transform((v) => (typeof v === 'string' ? v : v.id)),
  amount: z.number().int(),
  currency: z.string().nullish(),
  status: z.string(),
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
      stripe_event_id: stripeEventId,
    };
  }
  throw permanentFailure('InvalidPurchase', `${type} is not a refund or dispute event`);
}

/** Refunds and disputes: record the fact, then bring the order's entitlements in line with it. */
export function createAdjustmentActivities({ db }: { db: Db }) {
  return {
    /**
     * Records a refund or dispute event as a fact of its purchase and re-derives the order's
     * entitlements. Before the purchase is recorded, only the fact is stored: the
     * fulfillment applies it when it records the order.
     */
    async applyPaymentAdjustment({
      stripeEventId,
    }: PaymentAdjustmentInput): Promise<AppliedAdjustment> {
      const row = await db
        .selectFrom('webhook_events')
        .select('type')
        .where('provider', '=', 'stripe')
        .where('event_id', '=', stripeEventId)
        .executeTakeFirst();
      const object = await loadStripeEventObject(db, stripeEventId);
      let adjustment: NewPaymentAdjustment;
      try {
        adjustment = readAdjustment(row?.type ?? '', object, stripeEventId);
      } catch (error) {
        if (error instanceof z.ZodError)
          throw permanentFailure('InvalidPurchase', `${stripeEventId}: ${error.message}`);
        throw error;
      }

      return db.transaction().execute(async (trx) => {
        await lockPurchase(trx, adjustment.purchase_key);
        await trx
          .insertInto('payment_adjustments')
          .values(adjustment)
          .onConflict((oc) =>
            oc.column('external_id').doUpdateSet({
              status: sql<string>`case when payment_adjustments.status = 'open' then excluded.status else payment_adjustments.status end`,
              amount: sql<number>`greatest(payment_adjustments.amount, excluded.amount)`,
              full: sql<boolean>`payment_adjustments.full or excluded.full`,
              updated_at: sql<Date>`now()`,
            }),
          )
          .execute();
        return reconcilePurchase(trx, adjustment);
      });
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
      return db.transaction().execute(async (trx) => {
        const purchaseKey = rewardPurchaseKey(rewardId);
        await lockPurchase(trx, purchaseKey);
        const reward = await trx
          .updateTable('rewards')
          .set({
            revoked_at: sql<Date>`coalesce(revoked_at, now())`,
            revoke_reason: sql<string>`coalesce(revoke_reason, ${reason})`,
          })
          .where('reward_id', '=', rewardId)
          .returning(['mission_id', 'kind'])
          .executeTakeFirst();
        if (!reward)
          throw permanentFailure('InvalidPurchase', `reward ${rewardId} is not recorded`);
        const adjustment: NewPaymentAdjustment = {
          kind: 'revocation',
          external_id: `reward-revocation:${rewardId}`,
          purchase_key: purchaseKey,
          amount: 0,
          currency: null,
          full: true,
          status: 'revoked',
          stripe_event_id: null,
        };
        const recorded = await trx
          .insertInto('payment_adjustments')
          .values(adjustment)
          .onConflict((oc) => oc.column('external_id').doNothing())
          .returning('id')
          .executeTakeFirst();
        if (recorded) {
          await recordAudit(trx, {
            actor,
            action: 'mission.reward_revoked',
            target: rewardId,
            reason,
            detail: { missionId: reward.mission_id, kind: reward.kind },
          });
        }
        return reconcilePurchase(trx, adjustment);
      });
    },
  };
}

/** Re-derives the purchase's entitlements after a new fact, and moves its job to match. */
async function reconcilePurchase(
  trx: DbExecutor,
  adjustment: Pick<NewPaymentAdjustment, 'kind' | 'external_id' | 'purchase_key'>,
): Promise<AppliedAdjustment> {
  const order = await trx
    .selectFrom('orders')
    .innerJoin('fulfillment_jobs', 'fulfillment_jobs.order_id', 'orders.id')
    .select(['orders.id', 'fulfillment_jobs.id as jobId', 'fulfillment_jobs.completed_at'])
    .where('orders.purchase_key', '=', adjustment.purchase_key)
    .executeTakeFirst();
  if (!order) {
    return {
      purchaseKey: adjustment.purchase_key,
      orderId: null,
      entitlementStatus: null,
      revoked: false,
    };
  }
  const { previous, status } = await reconcileOrderEntitlements(trx, order.id);
  const revoked = status === 'revoked' && previous.some((s) => s !== 'revoked');
  const detail = {
    step: adjustment.kind,
    externalId: adjustment.external_id,
    entitlementStatus: status,
  };
  if (status === 'revoked') await transitionJob(trx, order.jobId, 'revoked', detail);
  else if (previous.includes('revoked') && order.completed_at) {
    await transitionJob(trx, order.jobId, 'completed', detail, { restore: true });
  }
  return {
    purchaseKey: adjustment.purchase_key,
    orderId: order.id,
    entitlementStatus: status,
    revoked,
  };
}
