import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import type Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import { lockPurchase, reconcileOrderEntitlements } from '../db/queries/entitlements.ts';
import { transitionJob } from '../db/queries/fulfillment.ts';
import { productStoragePath } from '../db/queries/products.ts';
import { findWebhookEvent } from '../db/queries/webhook-events.ts';
import type { Product } from '../db/tables/products.ts';
import {
  ASSET_MISSING,
  fulfillmentWorkflowId,
  type ActivatedEntitlements,
  type FulfillmentInput,
  type FulfillmentStatus,
  type JobStep,
  type NeedsAttention,
  type PermanentFailureType,
  type RecordedPurchase,
} from '../workflows/contracts.ts';
import { raiseAlert, type AlertSinks } from '../support/alerts.ts';
import type { EmailDriver } from '../drivers/email/driver.ts';
import type { DownloadLinkSigning } from './order-email.ts';
import {
  customerEmailSearchValue,
  DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
} from '../security/search-attribute-hash.ts';
import type { StorageDriver } from '../drivers/storage/driver.ts';
import {
  InvalidPurchaseError,
  readPurchase,
  readRewardPurchase,
  type Purchase,
} from './purchase.ts';

export interface FulfillmentDeps {
  db: Db;
  stripe: Stripe;
  storage: StorageDriver;
  email: EmailDriver;
  emailFrom: string;
  alerts: AlertSinks;
  links?: DownloadLinkSigning | undefined;
  /** Keys the `CustomerEmail` search attribute's hash (SEARCH_ATTRIBUTE_HASH_KEY). */
  searchAttributeHashKey?: string | undefined;
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

async function findPurchasedProducts(
  db: Db,
  items: Purchase['items'],
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

/** The side effects of a fulfillment; each is idempotent on its own key so retries are safe. */
export function createFulfillmentActivities({
  db,
  stripe,
  storage,
  alerts,
  searchAttributeHashKey = DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
}: FulfillmentDeps) {
  return {
    /**
     * Records customer, order, entitlements (`processing`), the job and its first event in one
     * transaction. Running it again for the same purchase returns what is there. A refund or
     * dispute recorded before this success event applies at once.
     */
    async recordPurchase(input: FulfillmentInput): Promise<RecordedPurchase> {
      let purchase: Purchase;
      try {
        purchase =
          input.source === 'reward'
            ? await readRewardPurchase(db, input.rewardId)
            : await readPurchase(stripe, await loadStripeEventObject(db, input.stripeEventId));
      } catch (error) {
        if (error instanceof InvalidPurchaseError)
          throw permanentFailure('InvalidPurchase', error.message);
        throw error;
      }
      const origin =
        input.source === 'reward'
          ? { rewardId: input.rewardId }
          : { stripeEventId: input.stripeEventId };
      const { products, unknown } = await findPurchasedProducts(db, purchase.items);

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
            source: input.source,
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

        // Nothing is delivered while part of the purchase is unknown: support fixes the
        // catalog and replays the event, and this step then records every item.
        const deliverable = unknown.length === 0 ? products : [];
        if (deliverable.length > 0)
          await trx
            .insertInto('entitlements')
            .values(
              deliverable.map((product) => ({
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
          customerEmailSearchValue: customerEmailSearchValue(
            purchase.email,
            searchAttributeHashKey,
          ),
          guest: customer.auth_user_id === null,
          status: job.status,
          unknownItems: unknown,
        };
      });
    },

    /**
     * Checks that every purchased file exists at its versioned path. A missing file is
     * retried (it may still be uploading); the workflow gives up after its retry window.
     */
    async verifyAssets({ jobId, orderId }: JobStep): Promise<FulfillmentStatus> {
      const items = await db
        .selectFrom('entitlements')
        .innerJoin('products', 'products.id', 'entitlements.product_id')
        .select(['products.sku', 'products.slug', 'products.version', 'products.formats'])
        .where('entitlements.order_id', '=', orderId)
        .execute();
      const keys = items.flatMap((item) =>
        item.formats.map((format) => productStoragePath(item, format)),
      );
      const missing: string[] = [];
      for (const key of keys) if (!(await storage.exists(key))) missing.push(key);
      if (missing.length > 0) {
        throw ApplicationFailure.retryable(
          `missing in ${storage.name} storage: ${missing.join(', ')}`,
          ASSET_MISSING,
        );
      }
      return db.transaction().execute(async (trx) => {
        const job = await transitionJob(trx, jobId, 'pending_entitlement', {
          step: 'verify_assets',
          files: keys.length,
        });
        return job.status;
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

    /** Records that a step keeps failing (the job shows `pending_retry` until it recovers). */
    async markJobRetrying({
      jobId,
      step,
      error,
    }: {
      jobId: string;
      step: string;
      error: string;
    }): Promise<FulfillmentStatus> {
      return db.transaction().execute(async (trx) => {
        const job = await transitionJob(trx, jobId, 'pending_retry', { step, error });
        await trx
          .updateTable('fulfillment_jobs')
          .set({ last_error: error })
          .where('id', '=', jobId)
          .execute();
        return job.status;
      });
    },

    /** A failure no retry can fix: the job (when there is one) needs attention; one alert. */
    async flagNeedsAttention(problem: NeedsAttention): Promise<void> {
      if (problem.jobId) {
        const jobId = problem.jobId;
        await db.transaction().execute(async (trx) => {
          await transitionJob(trx, jobId, 'needs_attention', {
            type: problem.type,
            error: problem.message,
          });
          await trx
            .updateTable('fulfillment_jobs')
            .set({ last_error: problem.message })
            .where('id', '=', jobId)
            .execute();
        });
      }
      await raiseAlert(db, alerts, {
        key: `needs_attention:${problem.workflowId}:${problem.type}`,
        kind: 'fulfillment.needs_attention',
        severity: 'critical',
        summary: `${problem.workflowId} needs attention: ${problem.message}`,
        jobId: problem.jobId,
        detail: { ...problem },
      });
    },

    /** Product analytics for a fulfilled order, once per order however often retried. */
    async emitAnalytics({ orderId }: JobStep): Promise<void> {
      const order = await db
        .selectFrom('orders')
        .select(['id', 'customer_id', 'source', 'amount_total', 'currency'])
        .where('id', '=', orderId)
        .executeTakeFirstOrThrow();
      const entitlements = await db
        .selectFrom('entitlements')
        .innerJoin('products', 'products.id', 'entitlements.product_id')
        .select(['entitlements.id', 'products.sku', 'entitlements.status'])
        .where('entitlements.order_id', '=', orderId)
        .execute();
      const events = [
        {
          event_key: `order.fulfilled:${orderId}`,
          name: 'order.fulfilled',
          order_id: orderId,
          customer_id: order.customer_id,
          properties: JSON.stringify({
            source: order.source,
            amount: order.amount_total,
            currency: order.currency,
            items: entitlements.length,
          }),
        },
        ...entitlements.map((e) => ({
          event_key: `entitlement.granted:${e.id}`,
          name: 'entitlement.granted',
          order_id: orderId,
          customer_id: order.customer_id,
          properties: JSON.stringify({ sku: e.sku, status: e.status }),
        })),
      ];
      await db
        .insertInto('analytics_events')
        .values(events)
        .onConflict((oc) => oc.column('event_key').doNothing())
        .execute();
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
