import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import type Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import { lockPurchase, reconcileOrderEntitlements } from '../db/queries/entitlements.ts';
import { transitionJob } from '../db/queries/fulfillment.ts';
import { findWebhookEvent } from '../db/queries/webhook-events.ts';
import type { Product } from '../db/tables/products.ts';
import {
  fulfillmentWorkflowId,
  type ActivatedEntitlements,
  type FulfillmentInput,
  type FulfillmentStatus,
  type JobStep,
  type PermanentFailureType,
  type RecordedPurchase,
} from '../workflows/contracts.ts';
import type { EmailDriver } from './email/driver.ts';
import { InvalidPurchaseError, readPurchase, type Purchase } from './purchase.ts';

export interface FulfillmentDeps {
  db: Db;
  stripe: Stripe;
  email: EmailDriver;
  emailFrom: string;
}

export function permanentFailure(type: PermanentFailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/** The recorded payload of a Stripe event; a missing one is a permanent failure. */
export async function loadStripeEventObject(db: Db, stripeEventId: string): Promise<unknown> {
  const event = await findWebhookEvent(db, 'stripe', stripeEventId);
  if (!event)
    throw permanentFailure('InvalidPurchase', `webhook event ${stripeEventId} is not recorded`);
  return (event.payload as { data?: { object?: unknown } }).data?.object;
}

async function findPurchasedProducts(db: Db, items: Purchase['items']): Promise<Product[]> {
  const bySku = 'skus' in items;
  const keys = bySku ? items.skus : items.priceIds;
  const products = await db
    .selectFrom('products')
    .selectAll()
    .where(bySku ? 'sku' : 'stripe_price_id', 'in', keys)
    .execute();
  const found = new Set(products.map((p) => (bySku ? p.sku : p.stripe_price_id)));
  const unknown = keys.filter((key) => !found.has(key));
  if (unknown.length > 0) {
    throw permanentFailure(
      'UnknownSku',
      `unknown ${bySku ? 'SKU' : 'price'} ${unknown.join(', ')}`,
    );
  }
  return products;
}

/** The side effects of a fulfillment; each is idempotent on its own key so retries are safe. */
export function createFulfillmentActivities({ db, stripe }: FulfillmentDeps) {
  return {
    /**
     * Records customer, order, entitlements (`processing`), the job and its first event in one
     * transaction. Running it again for the same purchase returns what is there. A refund or
     * dispute recorded before this success event applies at once.
     */
    async recordPurchase(input: FulfillmentInput): Promise<RecordedPurchase> {
      const object = await loadStripeEventObject(db, input.stripeEventId);
      let purchase: Purchase;
      try {
        purchase = await readPurchase(stripe, object);
      } catch (error) {
        if (error instanceof InvalidPurchaseError)
          throw permanentFailure('InvalidPurchase', error.message);
        throw error;
      }
      const products = await findPurchasedProducts(db, purchase.items);

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
              auth_user_id: sql<
                string | null
              >`coalesce(customers.auth_user_id, excluded.auth_user_id)`,
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
            source: 'stripe',
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

        const firstStatus: FulfillmentStatus = 'pending_entitlement';
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
              detail: JSON.stringify({
                step: 'record_purchase',
                stripeEventId: input.stripeEventId,
              }),
            })
            .execute();
        }
        const { status: entitlementStatus } = await reconcileOrderEntitlements(trx, order.id);
        const job =
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
          customerEmail: purchase.email,
          guest: customer.auth_user_id === null,
          status: job.status,
        };
      });
    },

    /**
     * Makes the order's entitlements usable: `pending_claim` for guests, `active` for known
     * accounts — unless a refund or dispute says otherwise (then `revoked` or `suspended`).
     */
    async activateEntitlements({ jobId, orderId }: JobStep): Promise<ActivatedEntitlements> {
      return db.transaction().execute(async (trx) => {
        const { purchase_key } = await trx
          .selectFrom('orders')
          .select('purchase_key')
          .where('id', '=', orderId)
          .executeTakeFirstOrThrow();
        await lockPurchase(trx, purchase_key);
        const { status: entitlementStatus } = await reconcileOrderEntitlements(trx, orderId, {
          activate: true,
        });
        const next: FulfillmentStatus =
          entitlementStatus === 'revoked' ? 'revoked' : 'pending_email';
        const job = await transitionJob(trx, jobId, next, {
          step: 'activate_entitlements',
          entitlementStatus,
        });
        return { status: job.status, entitlementStatus };
      });
    },

    /** Marks the job completed once every step succeeded (a revoked job stays revoked). */
    async completeJob({ jobId }: JobStep): Promise<FulfillmentStatus> {
      return db.transaction().execute(async (trx) => {
        const job = await transitionJob(trx, jobId, 'completed', { step: 'complete' });
        return job.status;
      });
    },
  };
}

export type FulfillmentActivities = ReturnType<typeof createFulfillmentActivities>;
