import { sql } from 'kysely';
import type { DbExecutor } from '../database.ts';
import type { NewReconciliationRun, ReconciliationRun } from '../tables/reconciliation-runs.ts';
import { inboxPayload } from './webhook-events.ts';

/** Stripe orders paid by one of these payment intents, or paid within [start, end). */
export async function listStripeOrdersForReconciliation(
  db: DbExecutor,
  paymentIntentIds: string[],
  window: { start: Date; end: Date },
) {
  return db
    .selectFrom('orders')
    .select(['id', 'purchase_key', 'payment_intent_id'])
    .where('source', '=', 'stripe')
    .where((eb) =>
      eb.or([
        ...(paymentIntentIds.length > 0 ? [eb('payment_intent_id', 'in', paymentIntentIds)] : []),
        eb.and([eb('paid_at', '>=', window.start), eb('paid_at', '<', window.end)]),
      ]),
    )
    .execute();
}

/** The status of every entitlement of these orders (call with at least one order id). */
export async function listEntitlementStatusesOfOrders(db: DbExecutor, orderIds: string[]) {
  return db
    .selectFrom('entitlements')
    .select(['order_id', 'status'])
    .where('order_id', 'in', orderIds)
    .execute();
}

/** The status of these orders' receipts (`delivery` emails; call with at least one order id). */
export async function listReceiptStatusesOfOrders(db: DbExecutor, orderIds: string[]) {
  return db
    .selectFrom('email_deliveries')
    .select(['order_id', 'status'])
    .where('order_id', 'in', orderIds)
    .where('kind', '=', 'delivery')
    .execute();
}

/**
 * The first recorded Stripe event (its payload) of one of `types` that belongs to the
 * purchase: routed to its workflow, or whose object is (or pays) the purchase key.
 */
export async function findFirstStripeEventForPurchase(
  db: DbExecutor,
  { purchaseKey, workflowId, types }: { purchaseKey: string; workflowId: string; types: string[] },
): Promise<{ payload: unknown } | undefined> {
  const row = await db
    .selectFrom('webhook_events')
    .select([
      'payload',
      sql<Buffer | null>`case when payload is null then raw_body end`.as('raw_body'),
    ])
    .where('provider', '=', 'stripe')
    .where('type', 'in', types)
    .where((eb) =>
      eb.or([
        eb('workflow_id', '=', workflowId),
        eb(sql<string>`payload->'data'->'object'->>'id'`, '=', purchaseKey),
        eb(sql<string>`payload->'data'->'object'->>'payment_intent'`, '=', purchaseKey),
      ]),
    )
    .orderBy('received_at')
    .executeTakeFirst();
  return row && { payload: inboxPayload(row) };
}

export async function insertReconciliationRun(
  db: DbExecutor,
  run: NewReconciliationRun,
): Promise<ReconciliationRun> {
  return db.insertInto('reconciliation_runs').values(run).returningAll().executeTakeFirstOrThrow();
}
