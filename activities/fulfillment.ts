import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import type Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import { transitionJob } from '../db/queries/fulfillment.ts';
import { findProductsBySkus } from '../db/queries/products.ts';
import { findWebhookEvent } from '../db/queries/webhook-events.ts';
import {
  fulfillmentWorkflowId,
  type FulfillmentInput,
  type FulfillmentStatus,
  type JobStep,
  type PermanentFailureType,
  type RecordedPurchase,
} from '../workflows/contracts.ts';
import type { EmailDriver } from './email/driver.ts';
import { renderDeliveryEmail } from './email/templates.ts';
import { InvalidPurchaseError, readPaymentIntentPurchase, resolveBuyerEmail } from './purchase.ts';

export interface FulfillmentDeps {
  db: Db;
  stripe: Stripe;
  email: EmailDriver;
  emailFrom: string;
}

function permanentFailure(type: PermanentFailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/** The side effects of a fulfillment; each is idempotent on its own key so retries are safe. */
export function createFulfillmentActivities({ db, stripe, email, emailFrom }: FulfillmentDeps) {
  return {
    /**
     * Records customer, order, entitlements (`processing`), the job and its first event in one
     * transaction. Running it again for the same payment intent returns what is there.
     */
    async recordPurchase(input: FulfillmentInput): Promise<RecordedPurchase> {
      const event = await findWebhookEvent(db, 'stripe', input.stripeEventId);
      if (!event) {
        throw permanentFailure(
          'InvalidPurchase',
          `webhook event ${input.stripeEventId} is not recorded`,
        );
      }
      const payload = event.payload as { data?: { object?: unknown } };
      let read;
      let customerEmail;
      try {
        read = readPaymentIntentPurchase(payload.data?.object);
        customerEmail = await resolveBuyerEmail(stripe, read);
      } catch (error) {
        if (error instanceof InvalidPurchaseError)
          throw permanentFailure('InvalidPurchase', error.message);
        throw error;
      }
      const { purchase } = read;
      const products = await findProductsBySkus(db, purchase.skus);
      const unknown = purchase.skus.filter((sku) => !products.some((p) => p.sku === sku));
      if (unknown.length > 0) {
        throw permanentFailure(
          'UnknownSku',
          `unknown SKU ${unknown.join(', ')} in ${purchase.paymentIntentId}`,
        );
      }

      return db.transaction().execute(async (trx) => {
        const customer = await trx
          .insertInto('customers')
          .values({
            email: customerEmail,
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
            source: 'stripe',
            payment_intent_id: purchase.paymentIntentId,
            customer_id: customer.id,
            amount_total: purchase.amountTotal,
            currency: purchase.currency,
            paid_at: purchase.paidAt,
          })
          .onConflict((oc) => oc.column('payment_intent_id').doNothing())
          .execute();
        const order = await trx
          .selectFrom('orders')
          .select(['id'])
          .where('payment_intent_id', '=', purchase.paymentIntentId)
          .executeTakeFirstOrThrow();

        await trx
          .insertInto('entitlements')
          .values(
            products.map((product) => ({
              order_id: order.id,
              product_id: product.id,
              customer_id: customer.id,
              status: 'processing' as const,
            })),
          )
          .onConflict((oc) => oc.columns(['order_id', 'product_id']).doNothing())
          .execute();

        const firstStatus: FulfillmentStatus = 'pending_entitlement';
        const created = await trx
          .insertInto('fulfillment_jobs')
          .values({
            order_id: order.id,
            workflow_id: fulfillmentWorkflowId(purchase.paymentIntentId),
            status: firstStatus,
          })
          .onConflict((oc) => oc.column('order_id').doNothing())
          .returning(['id', 'status'])
          .executeTakeFirst();
        if (created) {
          await trx
            .insertInto('fulfillment_job_events')
            .values({
              job_id: created.id,
              status: firstStatus,
              detail: JSON.stringify({
                step: 'record_purchase',
                stripeEventId: input.stripeEventId,
              }),
            })
            .execute();
        }
        const job =
          created ??
          (await trx
            .selectFrom('fulfillment_jobs')
            .select(['id', 'status'])
            .where('order_id', '=', order.id)
            .executeTakeFirstOrThrow());
        return {
          jobId: job.id,
          orderId: order.id,
          customerEmail,
          guest: customer.auth_user_id === null,
          status: job.status,
        };
      });
    },

    /** Makes the order's entitlements usable: `pending_claim` for guests, `active` otherwise. */
    async activateEntitlements({ jobId, orderId }: JobStep): Promise<FulfillmentStatus> {
      return db.transaction().execute(async (trx) => {
        const customer = await trx
          .selectFrom('orders')
          .innerJoin('customers', 'customers.id', 'orders.customer_id')
          .select(['customers.auth_user_id'])
          .where('orders.id', '=', orderId)
          .executeTakeFirstOrThrow();
        await trx
          .updateTable('entitlements')
          .set({
            status: customer.auth_user_id ? 'active' : 'pending_claim',
            updated_at: sql<Date>`now()`,
          })
          .where('order_id', '=', orderId)
          .where('status', '=', 'processing')
          .execute();
        const job = await transitionJob(trx, jobId, 'pending_email', {
          step: 'activate_entitlements',
        });
        return job.status;
      });
    },

    /**
     * Sends the receipt through the ledger: the row is claimed by its idempotency key first,
     * so a retry after the provider accepted the message never sends it twice.
     */
    async sendDeliveryEmail({ orderId }: JobStep): Promise<void> {
      const idempotencyKey = `delivery:${orderId}:1`;
      const sent = await db
        .selectFrom('email_deliveries')
        .select(['status'])
        .where('idempotency_key', '=', idempotencyKey)
        .executeTakeFirst();
      if (sent && sent.status !== 'queued' && sent.status !== 'failed') return;

      const order = await db
        .selectFrom('orders')
        .innerJoin('customers', 'customers.id', 'orders.customer_id')
        .select([
          'orders.id',
          'orders.payment_intent_id',
          'orders.amount_total',
          'orders.currency',
          'orders.paid_at',
          'customers.email',
          'customers.auth_user_id',
        ])
        .where('orders.id', '=', orderId)
        .executeTakeFirstOrThrow();
      const items = await db
        .selectFrom('entitlements')
        .innerJoin('products', 'products.id', 'entitlements.product_id')
        .select(['products.title', 'products.formats'])
        .where('entitlements.order_id', '=', orderId)
        .orderBy('products.title')
        .execute();
      const rendered = renderDeliveryEmail({
        orderReference: order.payment_intent_id ?? order.id,
        items,
        amountTotal: order.amount_total,
        currency: order.currency,
        paidAt: order.paid_at,
        guest: order.auth_user_id === null,
      });

      await db
        .insertInto('email_deliveries')
        .values({
          idempotency_key: idempotencyKey,
          kind: 'delivery',
          recipient: order.email,
          order_id: orderId,
          ...rendered,
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .execute();
      await db
        .updateTable('email_deliveries')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), updated_at: sql<Date>`now()` }))
        .where('idempotency_key', '=', idempotencyKey)
        .execute();
      try {
        const result = await email.send({
          idempotencyKey,
          from: emailFrom,
          to: order.email,
          ...rendered,
        });
        await db
          .updateTable('email_deliveries')
          .set({
            status: 'sent',
            driver: result.driver,
            provider_message_id: result.providerMessageId,
            sent_at: sql<Date>`now()`,
            updated_at: sql<Date>`now()`,
            last_error: null,
          })
          .where('idempotency_key', '=', idempotencyKey)
          .execute();
      } catch (error) {
        await db
          .updateTable('email_deliveries')
          .set({ last_error: String(error), updated_at: sql<Date>`now()` })
          .where('idempotency_key', '=', idempotencyKey)
          .execute();
        throw error;
      }
    },

    /** Marks the job completed once every step succeeded. */
    async completeJob({ jobId }: JobStep): Promise<FulfillmentStatus> {
      return db.transaction().execute(async (trx) => {
        const job = await transitionJob(trx, jobId, 'completed', { step: 'complete' });
        return job.status;
      });
    },
  };
}

export type FulfillmentActivities = ReturnType<typeof createFulfillmentActivities>;
