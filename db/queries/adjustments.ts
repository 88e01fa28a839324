import { sql } from 'kysely';
import {
  rewardPurchaseKey,
  type AppliedAdjustment,
  type EntitlementStatus,
  type FulfillmentStatus,
  type OrderSource,
  type RewardRevocationInput,
} from '../../workflows/contracts.ts';
import type { AuditAction } from '../audit-actions.ts';
import type { Db, DbExecutor } from '../database.ts';
import type { NewPaymentAdjustment } from '../tables/payment-adjustments.ts';
import { recordAudit } from './audit.ts';
import { lockPurchase, reconcileOrderEntitlements } from './entitlements.ts';
import { transitionJob } from './fulfillment.ts';

/**
 * What applying a fact did, as the database knows it: the adjustment's outcome and, when it
 * moved the purchase's job, the purchase as the Temporal UI should now show it.
 */
export interface AppliedAdjustmentRows extends Omit<AppliedAdjustment, 'statusChange'> {
  statusChange: {
    status: FulfillmentStatus;
    source: OrderSource;
    paymentIntentId: string | null;
    email: string;
  } | null;
}

/** The type of a recorded Stripe event (`charge.refunded`, …), or undefined when not recorded. */
export async function findStripeEventType(
  db: DbExecutor,
  stripeEventId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('webhook_events')
    .select('type')
    .where('provider', '=', 'stripe')
    .where('event_id', '=', stripeEventId)
    .executeTakeFirst();
  return row?.type;
}

/**
 * Records a refund or dispute as a fact of its purchase and re-derives the order's
 * entitlements, in one transaction under the purchase's lock. A fact recorded before only
 * moves forward: an open dispute takes its outcome (a closed one never reopens), the amount
 * and `full` only grow.
 */
export async function recordPaymentAdjustment(
  db: Db,
  adjustment: NewPaymentAdjustment,
): Promise<AppliedAdjustmentRows> {
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
          reason: sql<string | null>`coalesce(excluded.reason, payment_adjustments.reason)`,
          updated_at: sql<Date>`now()`,
        }),
      )
      .execute();
    return reconcilePurchase(trx, adjustment);
  });
}

/**
 * Takes a reward back in one transaction: marks the reward revoked, records the revocation
 * fact, writes the mission audit entry (`mission.reward_revoked`) once however often it is
 * retried, and re-derives the entitlements. Undefined (nothing written) when the reward is not
 * recorded.
 */
export async function revokeRewardRows(
  db: Db,
  { rewardId, reason, actor }: RewardRevocationInput,
): Promise<AppliedAdjustmentRows | undefined> {
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
    if (!reward) return undefined;
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
}

const CAUSES: Record<NewPaymentAdjustment['kind'], string> = {
  refund: 'refund',
  dispute: 'dispute',
  revocation: 'reward_revocation',
};

/**
 * One audit row per entitlement a refund, dispute or revocation moved (`stripe` for payment
 * facts, `system` for a reward's revocation): revoked, suspended, or restored (a won dispute).
 */
async function auditEntitlementChange(
  trx: DbExecutor,
  orderId: string,
  adjustment: Pick<NewPaymentAdjustment, 'kind' | 'external_id'>,
  previous: EntitlementStatus[],
  status: EntitlementStatus,
): Promise<void> {
  const action: AuditAction | null =
    status === 'revoked'
      ? 'entitlement.revoked'
      : status === 'suspended'
        ? 'entitlement.suspended'
        : status === 'active' || status === 'pending_claim'
          ? 'entitlement.restored'
          : null;
  if (!action || previous.every((s) => s === status)) return;
  // A restore is only one when the entitlement was taken back (not a first activation).
  if (
    action === 'entitlement.restored' &&
    !previous.some((s) => s === 'revoked' || s === 'suspended')
  )
    return;
  const entitlements = await trx
    .selectFrom('entitlements')
    .select(['id', 'product_id'])
    .where('order_id', '=', orderId)
    .execute();
  for (const entitlement of entitlements)
    await recordAudit(trx, {
      actor: adjustment.kind === 'revocation' ? 'system' : 'stripe',
      action,
      target: entitlement.id,
      detail: {
        cause: CAUSES[adjustment.kind],
        externalId: adjustment.external_id,
        orderId,
        productId: entitlement.product_id,
        previous: [...new Set(previous)],
        status,
      },
    });
}

/** Re-derives the purchase's entitlements after a new fact, and moves its job to match. */
async function reconcilePurchase(
  trx: DbExecutor,
  adjustment: Pick<NewPaymentAdjustment, 'kind' | 'external_id' | 'purchase_key'>,
): Promise<AppliedAdjustmentRows> {
  const order = await trx
    .selectFrom('orders')
    .innerJoin('fulfillment_jobs', 'fulfillment_jobs.order_id', 'orders.id')
    .innerJoin('customers', 'customers.id', 'orders.customer_id')
    .select([
      'orders.id',
      'orders.source',
      'orders.payment_intent_id',
      'customers.email',
      'fulfillment_jobs.id as jobId',
      'fulfillment_jobs.status as jobStatus',
      'fulfillment_jobs.completed_at',
    ])
    .where('orders.purchase_key', '=', adjustment.purchase_key)
    .executeTakeFirst();
  if (!order) {
    return {
      purchaseKey: adjustment.purchase_key,
      orderId: null,
      entitlementStatus: null,
      revoked: false,
      statusChange: null,
    };
  }
  const { previous, status } = await reconcileOrderEntitlements(trx, order.id);
  const revoked = status === 'revoked' && previous.some((s) => s !== 'revoked');
  await auditEntitlementChange(trx, order.id, adjustment, previous, status);
  const detail = {
    step: adjustment.kind,
    externalId: adjustment.external_id,
    entitlementStatus: status,
  };
  let jobStatus = order.jobStatus;
  if (status === 'revoked')
    jobStatus = (await transitionJob(trx, order.jobId, 'revoked', detail)).status;
  else if (previous.includes('revoked') && order.completed_at) {
    jobStatus = (await transitionJob(trx, order.jobId, 'completed', detail, { restore: true }))
      .status;
  }
  return {
    purchaseKey: adjustment.purchase_key,
    orderId: order.id,
    entitlementStatus: status,
    revoked,
    statusChange:
      jobStatus === order.jobStatus
        ? null
        : {
            status: jobStatus,
            source: order.source,
            paymentIntentId: order.payment_intent_id,
            email: order.email,
          },
  };
}

/** An order's job status with what its search attributes show; undefined without a job. */
export async function findPurchaseStatus(
  db: DbExecutor,
  orderId: string,
): Promise<NonNullable<AppliedAdjustmentRows['statusChange']> | undefined> {
  return db
    .selectFrom('orders')
    .innerJoin('fulfillment_jobs', 'fulfillment_jobs.order_id', 'orders.id')
    .innerJoin('customers', 'customers.id', 'orders.customer_id')
    .select([
      'fulfillment_jobs.status',
      'orders.source',
      'orders.payment_intent_id as paymentIntentId',
      'customers.email',
    ])
    .where('orders.id', '=', orderId)
    .executeTakeFirst();
}

/** What a cancellation email says about the money: the refund or lost dispute behind it. */
export interface CancellationAdjustment {
  kind: 'refund' | 'dispute';
  /** Refunds: the charge's amount refunded so far. Disputes: the disputed amount. */
  amount: number;
  currency: string | null;
  /** Stripe's reason code, when the event carried one. */
  reason: string | null;
}

/**
 * The adjustment that explains a purchase's cancellation: a lost dispute first, else its
 * largest refund (a charge's refunds record the amount refunded so far). Undefined when the
 * purchase has neither (a reward revocation, an operator's revoke).
 */
export async function findCancellationAdjustment(
  db: DbExecutor,
  purchaseKey: string,
): Promise<CancellationAdjustment | undefined> {
  const row = await db
    .selectFrom('payment_adjustments')
    .select(['kind', 'amount', 'currency', 'reason'])
    .where('purchase_key', '=', purchaseKey)
    .where((eb) =>
      eb.or([
        eb('kind', '=', 'refund'),
        eb.and([eb('kind', '=', 'dispute'), eb('status', '=', 'lost')]),
      ]),
    )
    .orderBy(sql`case when kind = 'dispute' then 0 else 1 end`)
    .orderBy('amount', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row
    ? { ...row, kind: row.kind as 'refund' | 'dispute', amount: Number(row.amount) }
    : undefined;
}
