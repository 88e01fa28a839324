import type { DbExecutor } from '../database.ts';
import type { AnalyticsEvent, NewAnalyticsEvent } from '../tables/analytics-events.ts';
import { enqueueOutboxMessage } from './outbox.ts';

/** Records product analytics events; an event key already recorded is skipped, not repeated. */
export async function insertAnalyticsEvents(
  db: DbExecutor,
  events: NewAnalyticsEvent[],
): Promise<AnalyticsEvent[]> {
  if (events.length === 0) return [];
  return db
    .insertInto('analytics_events')
    .values(events)
    .onConflict((oc) => oc.column('event_key').doNothing())
    .returningAll()
    .execute();
}

/**
 * Records analytics events and queues the newly recorded ones for an outside sink as one
 * outbox message on `topic` (a batch), in one transaction — or in the caller's, when `db` is
 * one, so the events exist (and leave) exactly when the fact they report does. Events recorded
 * before are neither repeated nor queued again.
 */
export async function recordAnalyticsEventsForExport(
  db: DbExecutor,
  events: NewAnalyticsEvent[],
  topic: string,
): Promise<AnalyticsEvent[]> {
  const record = async (trx: DbExecutor) => {
    const recorded = await insertAnalyticsEvents(trx, events);
    if (recorded.length > 0)
      await enqueueOutboxMessage(trx, { topic, payload: { events: recorded } });
    return recorded;
  };
  if (db.isTransaction) return record(db);
  return db.transaction().execute(record);
}

/** What an `order.fulfilled` event says about its order. */
export async function findOrderForAnalytics(db: DbExecutor, orderId: string) {
  return db
    .selectFrom('orders')
    .select(['id', 'customer_id', 'source', 'amount_total', 'currency'])
    .where('id', '=', orderId)
    .executeTakeFirstOrThrow();
}

/** The order's entitlements with their products, for `entitlement.granted`. */
export async function listOrderEntitlementsForAnalytics(db: DbExecutor, orderId: string) {
  return db
    .selectFrom('entitlements')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .select([
      'entitlements.id',
      'entitlements.customer_id',
      'entitlements.product_id',
      'products.sku',
      'entitlements.status',
    ])
    .where('entitlements.order_id', '=', orderId)
    .orderBy('products.sku')
    .execute();
}

/** Who and what a download is about (customer, order, product), for `entitlement.download`. */
export async function findEntitlementForAnalytics(db: DbExecutor, entitlementId: string) {
  return db
    .selectFrom('entitlements')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .select([
      'entitlements.id',
      'entitlements.order_id',
      'entitlements.customer_id',
      'entitlements.product_id',
      'products.sku',
    ])
    .where('entitlements.id', '=', entitlementId)
    .executeTakeFirst();
}
