import { sql } from 'kysely';
import {
  fulfillmentWorkflowId,
  type EntitlementStatus,
  type FulfillmentStatus,
  type OrderSource,
} from '../../workflows/contracts.ts';
import type { Db, DbExecutor } from '../database.ts';
import type { Product } from '../tables/products.ts';
import type { Reward } from '../tables/rewards.ts';
import {
  deriveEntitlementStatus,
  lockPurchase,
  productRevokedInForce,
  type EntitlementFacts,
} from './entitlements.ts';
import { transitionJob } from './fulfillment.ts';

/** What a purchase names: SKUs, or (Checkout line items) Stripe price ids. */
export type PurchasedItems = { skus: string[] } | { priceIds: string[] };

/** The recorded reward, or undefined when POST /v1/rewards never recorded it. */
export async function findReward(db: DbExecutor, rewardId: string): Promise<Reward | undefined> {
  return db.selectFrom('rewards').selectAll().where('reward_id', '=', rewardId).executeTakeFirst();
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

/** A purchased product as the later steps need it: where its files live. */
export type PurchasedProduct = Pick<Product, 'id' | 'sku' | 'slug' | 'version' | 'formats'>;

export interface RecordedPurchaseRows {
  jobId: string;
  orderId: string;
  /** The buyer's profile is not linked to an account. */
  guest: boolean;
  status: FulfillmentStatus;
  /** The catalog's products for the purchased items (all of them, delivered or not). */
  products: PurchasedProduct[];
  /** SKUs or price ids the catalog does not know: nothing was delivered. */
  unknown: string[];
}

/**
 * Records customer, order, entitlements (`processing`) for the purchased items, the job and
 * its first event in one transaction, under the purchase's lock — the rows in one statement
 * (BEGIN, lock, statement, COMMIT). Nothing is delivered while part of the purchase is unknown
 * to the catalog. Running it again for the same purchase returns what is there. A refund or
 * dispute recorded before this applies at once: the entitlements take the status the facts
 * dictate and the job is then `revoked`.
 */
export async function recordPurchaseRows(
  db: Db,
  {
    purchase,
    source,
    origin,
    items,
  }: {
    purchase: PurchaseToRecord;
    source: OrderSource;
    /** Where the purchase came from, for the job's first event. */
    origin: Record<string, unknown>;
    items: PurchasedItems;
  },
): Promise<RecordedPurchaseRows> {
  const bySku = 'skus' in items;
  const keys = [...new Set(bySku ? items.skus : items.priceIds)];
  const catalogKey = bySku ? sql.ref('sku') : sql.ref('stripe_price_id');
  return db.transaction().execute(async (trx) => {
    await lockPurchase(trx, purchase.purchaseKey);
    // One statement; its snapshot is taken after the lock, so every committed fact of this
    // purchase is visible to it.
    const {
      rows: [row],
    } = await sql<{
      order_id: string;
      job_id: string;
      job_status: FulfillmentStatus;
      guest: boolean;
      products: (PurchasedProduct & { key: string })[];
      entitlements: { status: EntitlementStatus; activated: boolean }[];
      adjustments: EntitlementFacts['adjustments'];
    }>`
      with
      -- A signed-in buyer's account, whatever its email: the profile may carry another address
      -- than the billing email (a guest purchase claimed into it), and auth_user_id is unique.
      account as (
        select id, auth_user_id from customers
         where ${purchase.userId}::text is not null and auth_user_id = ${purchase.userId}
      ),
      upserted_buyer as (
        insert into customers (email, status, auth_user_id)
        select ${purchase.email}, ${purchase.userId ? 'active' : 'pending_claim'}, ${purchase.userId}
         where not exists (select 1 from account)
        on conflict (email) do update set
          -- A signed-in purchase links a pending profile to its account; never unlinks one.
          auth_user_id = coalesce(customers.auth_user_id, excluded.auth_user_id),
          status = case when coalesce(customers.auth_user_id, excluded.auth_user_id) is null
                        then customers.status else 'active' end,
          updated_at = now()
        returning id, auth_user_id
      ),
      buyer as (
        select id, auth_user_id from account
        union all
        select id, auth_user_id from upserted_buyer
      ),
      inserted_order as (
        insert into orders (purchase_key, source, payment_intent_id, checkout_session_id,
                            customer_id, amount_total, currency, paid_at)
        select ${purchase.purchaseKey}, ${source}, ${purchase.paymentIntentId},
               ${purchase.checkoutSessionId}, buyer.id, ${purchase.amountTotal}::integer,
               ${purchase.currency}, ${purchase.paidAt}::timestamptz
          from buyer
        on conflict (purchase_key) do nothing
        returning id
      ),
      purchase_order as (
        select id from inserted_order
        union all
        select id from orders where purchase_key = ${purchase.purchaseKey}
      ),
      catalog as (
        select id, sku, slug, version, formats, ${catalogKey} as key
          from products where ${catalogKey} = any(${keys}::text[])
      ),
      deliverable as (
        select catalog.id from catalog
         where not exists (
           select 1 from unnest(${keys}::text[]) as wanted (key)
            where wanted.key not in (select key from catalog))
      ),
      new_entitlements as (
        insert into entitlements (order_id, product_id, customer_id, status, activated_at,
                                  last_download_at)
        select purchase_order.id, deliverable.id, buyer.id, 'processing', null, null
          from purchase_order, deliverable, buyer
        on conflict (order_id, product_id) do nothing
        returning status
      ),
      inserted_job as (
        insert into fulfillment_jobs (order_id, workflow_id, status, last_error, completed_at)
        select id, ${fulfillmentWorkflowId(purchase.purchaseKey)}, 'pending_storage', null, null
          from purchase_order
        on conflict (order_id) do nothing
        returning id, status
      ),
      first_event as (
        insert into fulfillment_job_events (job_id, status, detail)
        select id, status, ${JSON.stringify({ step: 'record_purchase', ...origin })}::jsonb
          from inserted_job
      ),
      job as (
        select id, status from inserted_job
        union all
        select fulfillment_jobs.id, fulfillment_jobs.status
          from fulfillment_jobs join purchase_order on fulfillment_jobs.order_id = purchase_order.id
      )
      select
        (select id from purchase_order) as order_id,
        (select id from job) as job_id,
        (select status from job) as job_status,
        (select auth_user_id is null from buyer) as guest,
        (select coalesce(json_agg(json_build_object('id', id, 'sku', sku, 'slug', slug,
                  'version', version, 'formats', formats, 'key', key)), '[]')
           from catalog) as products,
        -- The order's entitlements: those recorded before (a repeated run) and the new ones.
        (select coalesce(jsonb_agg(jsonb_build_object('status', status,
                  'activated', activated_at is not null)), '[]'::jsonb)
           from entitlements where order_id = (select id from purchase_order))
        || (select coalesce(jsonb_agg(jsonb_build_object('status', status, 'activated', false)),
                            '[]'::jsonb)
              from new_entitlements) as entitlements,
        (select coalesce(json_agg(json_build_object('kind', kind, 'full', "full", 'status', status)), '[]')
           from payment_adjustments where purchase_key = ${purchase.purchaseKey}) as adjustments
    `.execute(trx);
    const recorded = row!;
    const entitlementStatus = deriveEntitlementStatus({
      activated:
        recorded.entitlements.length > 0 && recorded.entitlements.every((e) => e.activated),
      claimed: !recorded.guest,
      adjustments: recorded.adjustments,
    });
    let status = recorded.job_status;
    // A refund or dispute recorded before the purchase: bring the entitlements in line now.
    if (recorded.entitlements.some((e) => e.status !== entitlementStatus)) {
      await updateOrderEntitlementStatus(trx, recorded.order_id, entitlementStatus);
      if (entitlementStatus === 'revoked') {
        const job = await transitionJob(trx, recorded.job_id, 'revoked', {
          step: 'record_purchase',
          reason: 'refunded or disputed before fulfillment',
        });
        status = job.status;
      }
    }
    const found = new Set(recorded.products.map((p) => p.key));
    return {
      jobId: recorded.job_id,
      orderId: recorded.order_id,
      guest: recorded.guest,
      status,
      products: recorded.products.map(({ key: _key, ...product }) => product),
      unknown: keys.filter((key) => !found.has(key)),
    };
  });
}

/** Sets every entitlement of the order to `status` (call under the purchase's lock). */
async function updateOrderEntitlementStatus(
  trx: DbExecutor,
  orderId: string,
  status: EntitlementStatus,
): Promise<void> {
  await trx
    .updateTable('entitlements')
    .set({ status, updated_at: sql<Date>`now()` })
    .where('order_id', '=', orderId)
    .where('status', '<>', status)
    .where(sql<boolean>`not ${productRevokedInForce}`)
    .execute();
}
