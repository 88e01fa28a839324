import type { Db } from '../db/database.ts';
import {
  findOrderForAnalytics,
  listOrderEntitlementsForAnalytics,
} from '../db/queries/analytics.ts';
import type { AnalyticsSink } from '../drivers/analytics/index.ts';

/**
 * `order.fulfilled` for the order and `entitlement.granted` for each of its entitlements, each
 * naming the customer, the order and (per entitlement) the entitlement and the product, recorded
 * through `sink` in one go. Once per order and entitlement however often the step is retried.
 */
export async function recordFulfillmentAnalytics(
  db: Db,
  sink: AnalyticsSink,
  orderId: string,
): Promise<void> {
  const order = await findOrderForAnalytics(db, orderId);
  const entitlements = await listOrderEntitlementsForAnalytics(db, orderId);
  await sink.record(db, [
    {
      key: `order.fulfilled:${orderId}`,
      name: 'order.fulfilled',
      customerId: order.customer_id,
      orderId,
      properties: {
        source: order.source,
        amount: order.amount_total,
        currency: order.currency,
        items: entitlements.length,
        skus: entitlements.map((e) => e.sku),
        product_ids: entitlements.map((e) => e.product_id),
      },
    },
    ...entitlements.map((e) => ({
      key: `entitlement.granted:${e.id}`,
      name: 'entitlement.granted',
      customerId: e.customer_id,
      orderId,
      entitlementId: e.id,
      productId: e.product_id,
      properties: { sku: e.sku, status: e.status },
    })),
  ]);
}
