import { sql } from 'kysely';
import {
  fulfillmentWorkflowId,
  type FulfillmentStatus,
  type OrderSource,
} from '../../workflows/contracts.ts';
import type { Db, DbExecutor } from '../database.ts';
import type { FulfillmentJob } from '../tables/fulfillment-jobs.ts';
import type { Product } from '../tables/products.ts';
import type { Reward } from '../tables/rewards.ts';
import { lockPurchase, reconcileOrderEntitlements } from './entitlements.ts';
import { transitionJob } from './fulfillment.ts';

/** What a purchase names: SKUs, or (Checkout line items) Stripe price ids. */
export type PurchasedItems = { skus: string[] } | { priceIds: string[] };

/** The recorded reward, or undefined when POST /v1/rewards never recorded it. */
export async function findReward(db: DbExecutor, rewardId: string): Promise<Reward | undefined> {
  return db.selectFrom('rewards').selectAll().where('reward_id', '=', rewardId).executeTakeFirst();
}

/** The catalog's products for the purchased items, and the SKUs or price ids it does not know. */
export async function findPurchasedProducts(
  db: DbExecutor,
  items: PurchasedItems,
): Promise<{ products: Product[]; unknown: string[] }> {
  const bySku = 'skus' in items;
  const keys = bySku ? items.skus : items.priceIds;
  const products = await db
    .selectFrom('products')
    .selectAll()
    .where(bySku ? 'sku' : 'stripe_price_id', 'in', keys)
    .execute();
  const found = new Set(products.map((p) => (bySku ? p.sku : p.stripe_price_id)));
  return { products, unknown: keys.filter((key) => !found.has(key)) };
}

/** The parts of a purchase that its rows record. */
export interface PurchaseToRecord {
  purchaseKey: string;
  paymentIntentId: string | null;
  checkoutSessionId: string | null;
  userId: string | null;
  email: string;
  amountTotal: number | null;
  currency: string | null;
  paidAt: Date;
}

export interface RecordedPurchaseRows {
  jobId: string;
  orderId: string;
  /** The buyer's profile is not linked to an account. */
  guest: boolean;
  status: FulfillmentStatus;
}

/**
 * Records customer, order, entitlements (`processing`) for `products`, the job and its first
 * event in one transaction, under the purchase's lock. Running it again for the same purchase
 * returns what is there. A refund or dispute recorded before this applies at once: the job is
 * then `revoked`.
 */
export async function recordPurchaseRows(
  db: Db,
  {
    purchase,
    source,
    origin,
    products,
  }: {
    purchase: PurchaseToRecord;
    source: OrderSource;
    /** Where the purchase came from, for the job's first event. */
    origin: Record<string, unknown>;
    /** What the purchase delivers (entitlements are recorded for these). */
    products: Product[];
  },
): Promise<RecordedPurchaseRows> {
  return db.transaction().execute(async (trx) => {
    await lockPurchase(trx, purchase.purchaseKey);
    const customer = await trx
      .insertInto('customers')
      .values({
        email: purchase.email,
        status: purchase.userId ? 'active' : 'pending_claim',
        auth_user_id: purchase.userId,
      })
      .onConflict((oc) =>
        oc.column('email').doUpdateSet({
          // A signed-in purchase links a pending profile to its account; never unlinks one.
          auth_user_id: sql<string | null>`coalesce(customers.auth_user_id, excluded.auth_user_id)`,
          status: sql<
            'active' | 'pending_claim'
          >`case when coalesce(customers.auth_user_id, excluded.auth_user_id) is null then customers.status else 'active' end`,
          updated_at: sql<Date>`now()`,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();

    await trx
      .insertInto('orders')
      .values({
        purchase_key: purchase.purchaseKey,
        source,
        payment_intent_id: purchase.paymentIntentId,
        checkout_session_id: purchase.checkoutSessionId,
        customer_id: customer.id,
        amount_total: purchase.amountTotal,
        currency: purchase.currency,
        paid_at: purchase.paidAt,
      })
      .onConflict((oc) => oc.column('purchase_key').doNothing())
      .execute();
    const order = await trx
      .selectFrom('orders')
      .select(['id'])
      .where('purchase_key', '=', purchase.purchaseKey)
      .executeTakeFirstOrThrow();

    if (products.length > 0)
      await trx
        .insertInto('entitlements')
        .values(
          products.map((product) => ({
            order_id: order.id,
            product_id: product.id,
            customer_id: customer.id,
            status: 'processing' as const,
            activated_at: null,
            last_download_at: null,
          })),
        )
        .onConflict((oc) => oc.columns(['order_id', 'product_id']).doNothing())
        .execute();

    const firstStatus: FulfillmentStatus = 'pending_storage';
    const created = await trx
      .insertInto('fulfillment_jobs')
      .values({
        order_id: order.id,
        workflow_id: fulfillmentWorkflowId(purchase.purchaseKey),
        status: firstStatus,
        last_error: null,
        completed_at: null,
      })
      .onConflict((oc) => oc.column('order_id').doNothing())
      .returning(['id'])
      .executeTakeFirst();
    const jobId =
      created?.id ??
      (
        await trx
          .selectFrom('fulfillment_jobs')
          .select(['id'])
          .where('order_id', '=', order.id)
          .executeTakeFirstOrThrow()
      ).id;
    if (created) {
      await trx
        .insertInto('fulfillment_job_events')
        .values({
          job_id: jobId,
          status: firstStatus,
          detail: JSON.stringify({ step: 'record_purchase', ...origin }),
        })
        .execute();
    }
    const { status: entitlementStatus } = await reconcileOrderEntitlements(trx, order.id);
    const job: FulfillmentJob =
      entitlementStatus === 'revoked'
        ? await transitionJob(trx, jobId, 'revoked', {
            step: 'record_purchase',
            reason: 'refunded or disputed before fulfillment',
          })
        : await trx
            .selectFrom('fulfillment_jobs')
            .selectAll()
            .where('id', '=', jobId)
            .executeTakeFirstOrThrow();
    return {
      jobId,
      orderId: order.id,
      guest: customer.auth_user_id === null,
      status: job.status,
    };
  });
}
