import { sql } from 'kysely';
import type { FulfillmentStatus } from '../../workflows/contracts.ts';
import type { DbExecutor } from '../database.ts';
import { inboxPayload } from './webhook-events.ts';

/** Every filter that is set must match. */
export interface JobListFilter {
  /** Lower-cased already: customers.email is stored lower-cased. */
  email?: string | undefined;
  paymentIntentId?: string | undefined;
  status?: FulfillmentStatus | undefined;
  /**
   * The order a reference names: its purchase key, or its id when the reference is a uuid
   * (`orderId` null otherwise: anything else compared with a uuid column is an error).
   */
  order?: { purchaseKey: string; orderId: string | null } | undefined;
  limit: number;
  offset: number;
}

/** Jobs with their order and buyer, newest first, matching every given filter. */
export async function listJobsForSearch(db: DbExecutor, filter: JobListFilter) {
  let query = db
    .selectFrom('fulfillment_jobs')
    .innerJoin('orders', 'orders.id', 'fulfillment_jobs.order_id')
    .innerJoin('customers', 'customers.id', 'orders.customer_id')
    .select([
      'fulfillment_jobs.id as jobId',
      'fulfillment_jobs.workflow_id as workflowId',
      'fulfillment_jobs.status as status',
      'orders.id as orderId',
      'orders.purchase_key as purchaseKey',
      'orders.payment_intent_id as paymentIntentId',
      'orders.source as source',
      'customers.email as email',
      'orders.amount_total as amountTotal',
      'orders.currency as currency',
      'fulfillment_jobs.last_error as lastError',
      'fulfillment_jobs.created_at as createdAt',
      'fulfillment_jobs.updated_at as updatedAt',
    ]);
  if (filter.email !== undefined) query = query.where('customers.email', '=', filter.email);
  if (filter.paymentIntentId !== undefined)
    query = query.where('orders.payment_intent_id', '=', filter.paymentIntentId);
  if (filter.status !== undefined)
    query = query.where('fulfillment_jobs.status', '=', filter.status);
  if (filter.order !== undefined) {
    const { purchaseKey, orderId } = filter.order;
    query = query.where((eb) =>
      eb.or([
        eb('orders.purchase_key', '=', purchaseKey),
        ...(orderId !== null ? [eb('orders.id', '=', orderId)] : []),
      ]),
    );
  }
  return query
    .orderBy('fulfillment_jobs.created_at', 'desc')
    .orderBy('fulfillment_jobs.id')
    .limit(filter.limit)
    .offset(filter.offset)
    .execute();
}

/** The id of the order whose id, job id or entitlement id is `id` (a uuid). */
export async function findOrderIdByRecordId(
  db: DbExecutor,
  id: string,
): Promise<string | undefined> {
  const hit = await db
    .selectFrom('orders')
    .select('orders.id')
    .where((eb) =>
      eb.or([
        eb('orders.id', '=', id),
        eb.exists(
          eb
            .selectFrom('fulfillment_jobs')
            .select('fulfillment_jobs.id')
            .whereRef('fulfillment_jobs.order_id', '=', 'orders.id')
            .where('fulfillment_jobs.id', '=', id),
        ),
        eb.exists(
          eb
            .selectFrom('entitlements')
            .select('entitlements.id')
            .whereRef('entitlements.order_id', '=', 'orders.id')
            .where('entitlements.id', '=', id),
        ),
      ]),
    )
    .executeTakeFirst();
  return hit?.id;
}

/** The id of the order whose purchase key, payment intent or checkout session is `key`. */
export async function findOrderIdByPaymentKey(
  db: DbExecutor,
  key: string,
): Promise<string | undefined> {
  const hit = await db
    .selectFrom('orders')
    .select('id')
    .where((eb) =>
      eb.or([
        eb('purchase_key', '=', key),
        eb('payment_intent_id', '=', key),
        eb('checkout_session_id', '=', key),
      ]),
    )
    .executeTakeFirst();
  return hit?.id;
}

/** An order (which must exist), its job if any, its buyer's address and its entitlements. */
export async function findPurchaseByOrderId(db: DbExecutor, orderId: string) {
  const order = await db
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', orderId)
    .executeTakeFirstOrThrow();
  const job =
    (await db
      .selectFrom('fulfillment_jobs')
      .selectAll()
      .where('order_id', '=', orderId)
      .executeTakeFirst()) ?? null;
  const customer = await db
    .selectFrom('customers')
    .select('email')
    .where('id', '=', order.customer_id)
    .executeTakeFirstOrThrow();
  const entitlements = await db
    .selectFrom('entitlements')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .select(['entitlements.id', 'products.sku', 'products.title', 'entitlements.status'])
    .where('entitlements.order_id', '=', orderId)
    .orderBy('products.sku')
    .execute();
  return { order, job, email: customer.email, entitlements };
}

/**
 * The webhook events of one purchase: those routed to its workflow, and those whose object is
 * (or pays) the purchase key.
 */
export async function listWebhookEventsForPurchase(
  db: DbExecutor,
  workflowId: string,
  purchaseKey: string,
) {
  return db
    .selectFrom('webhook_events')
    .select(['event_id', 'type', 'received_at', 'result', 'error', 'workflow_id'])
    .where((eb) =>
      eb.or([
        eb('workflow_id', '=', workflowId),
        eb(sql`payload->'data'->'object'->>'id'`, '=', purchaseKey),
        eb(sql`payload->'data'->'object'->>'payment_intent'`, '=', purchaseKey),
      ]),
    )
    .execute();
}

export async function listJobEvents(db: DbExecutor, jobId: string) {
  return db
    .selectFrom('fulfillment_job_events')
    .select(['status', 'detail', 'created_at'])
    .where('job_id', '=', jobId)
    .execute();
}

export async function listEmailDeliveriesOfOrder(db: DbExecutor, orderId: string) {
  return db
    .selectFrom('email_deliveries')
    .select([
      'kind',
      'recipient',
      'status',
      'driver',
      'attempts',
      'last_error',
      'created_at',
      'sent_at',
    ])
    .where('order_id', '=', orderId)
    .execute();
}

/** Call with at least one entitlement id. */
export async function listDownloadEventsOfEntitlements(db: DbExecutor, entitlementIds: string[]) {
  return db
    .selectFrom('download_events')
    .select(['entitlement_id', 'format', 'source', 'outcome', 'ip', 'created_at'])
    .where('entitlement_id', 'in', entitlementIds)
    .execute();
}

export async function listPaymentAdjustmentsOfPurchase(db: DbExecutor, purchaseKey: string) {
  return db
    .selectFrom('payment_adjustments')
    .select([
      'kind',
      'external_id',
      'amount',
      'full',
      'status',
      'reason',
      'created_at',
      'updated_at',
    ])
    .where('purchase_key', '=', purchaseKey)
    .execute();
}

export async function listClaimTokensOfCustomer(db: DbExecutor, customerId: string) {
  return db
    .selectFrom('claim_tokens')
    .select(['created_at', 'expires_at', 'used_at'])
    .where('customer_id', '=', customerId)
    .execute();
}

/** The customer's status (which must exist). */
export async function findCustomerStatus(db: DbExecutor, customerId: string) {
  const customer = await db
    .selectFrom('customers')
    .select('status')
    .where('id', '=', customerId)
    .executeTakeFirstOrThrow();
  return customer.status;
}

/** Audit entries about any of `targets` (call with at least one). */
export async function listAuditEntriesForTargets(db: DbExecutor, targets: string[]) {
  return db
    .selectFrom('audit_log')
    .select(['actor', 'action', 'target', 'reason', 'detail', 'created_at'])
    .where('target', 'in', targets)
    .execute();
}

/** The recorded Stripe payloads routed to `workflowId`, oldest first. */
export async function listStripePayloadsForWorkflow(
  db: DbExecutor,
  workflowId: string,
): Promise<unknown[]> {
  const events = await db
    .selectFrom('webhook_events')
    .select([
      'payload',
      sql<Buffer | null>`case when payload is null then raw_body end`.as('raw_body'),
    ])
    .where('provider', '=', 'stripe')
    .where('workflow_id', '=', workflowId)
    .orderBy('received_at')
    .execute();
  return events.map(inboxPayload);
}
