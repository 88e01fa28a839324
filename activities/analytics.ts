import type { Db } from '../db/database.ts';
import {
  findOrderForAnalytics,
  listOrderEntitlementsForAnalytics,
} from '../db/queries/analytics.ts';
import type { AnalyticsEventInput, AnalyticsSink } from '../drivers/analytics/index.ts';

/** What the analytics of a fulfilled order say about the order and each entitlement. */
export interface FulfilledOrder {
  customer_id: string;
  source: string;
  amount_total: number | null;
  currency: string | null;
  items: readonly { id: string; product_id: string; sku: string; status: string }[];
}

/**
 * `order.fulfilled` for the order and `entitlement.granted` for each of its entitlements, each
 * naming the customer, the order and (per entitlement) the entitlement and the product. Keyed
 * by order and entitlement: recorded once however often the step is retried.
 */
export function fulfilledOrderAnalytics(
  orderId: string,
  order: FulfilledOrder,
): AnalyticsEventInput[] {
  const items = [...order.items].sort((a, b) => a.sku.localeCompare(b.sku));
  return [
    {
      key: `order.fulfilled:${orderId}`,
      name: 'order.fulfilled',
      customerId: order.customer_id,
      orderId,
      properties: {
        source: order.source,
        amount: order.amount_total,
        currency: order.currency,
        items: items.length,
        skus: items.map((item) => item.sku),
        product_ids: items.map((item) => item.product_id),
      },
    },
    ...items.map((item) => ({
      key: `entitlement.granted:${item.id}`,
      name: 'entitlement.granted',
      customerId: order.customer_id,
      orderId,
      entitlementId: item.id,
      productId: item.product_id,
      properties: { sku: item.sku, status: item.status },
    })),
  ];
}

/**
 * The analytics of a fulfilled order, read and recorded through `sink` on their own (the
 * analytics step of runs before the lean shape; the lean `deliverOrder` records them with the
 * delivery, in one statement).
 */
export async function recordFulfillmentAnalytics(
  db: Db,
  sink: AnalyticsSink,
  orderId: string,
): Promise<void> {
  const order = await findOrderForAnalytics(db, orderId);
  const items = await listOrderEntitlementsForAnalytics(db, orderId);
  await sink.record(db, fulfilledOrderAnalytics(orderId, { ...order, items }));
}
