import type { DbExecutor } from '../../db/database.ts';
import {
  insertAnalyticsEvents,
  recordAnalyticsEventsForExport,
} from '../../db/queries/analytics.ts';
import type { NewAnalyticsEvent } from '../../db/tables/analytics-events.ts';

/** One product analytics event: what happened, to whom, about what. */
export interface AnalyticsEventInput {
  /** One event however often it is recorded (a retried step, a replayed webhook). */
  key: string;
  /** `order.fulfilled`, `entitlement.granted`, `entitlement.download`, … */
  name: string;
  customerId: string | null;
  orderId: string | null;
  entitlementId?: string | null;
  productId?: string | null;
  properties?: Record<string, unknown> | null;
}

/**
 * Where analytics events go. `record` runs in the caller's transaction when it passes one, so
 * an event exists exactly when the fact it reports does; a key recorded before is skipped.
 */
export interface AnalyticsSink {
  readonly name: string;
  /**
   * The outbox topic newly recorded events are queued on for export (null: they stay in the
   * table). A query that records a fact and its events in one statement
   * (`completeOrderDelivery`) queues them on it in that same statement.
   */
  readonly exportTopic: string | null;
  record(db: DbExecutor, events: readonly AnalyticsEventInput[]): Promise<void>;
}

/** Events as `analytics_events` rows (what a query recording them itself inserts). */
export function analyticsEventRows(events: readonly AnalyticsEventInput[]): NewAnalyticsEvent[] {
  return events.map(toRow);
}

function toRow(event: AnalyticsEventInput): NewAnalyticsEvent {
  return {
    event_key: event.key,
    name: event.name,
    customer_id: event.customerId,
    order_id: event.orderId,
    entitlement_id: event.entitlementId ?? null,
    product_id: event.productId ?? null,
    properties: event.properties ? JSON.stringify(event.properties) : null,
  };
}

/** The default: events stay in the `analytics_events` table. */
export const tableAnalyticsSink: AnalyticsSink = {
  name: 'table',
  exportTopic: null,
  async record(db, events) {
    await insertAnalyticsEvents(db, events.map(toRow));
  },
};

/** The outbox topic an exporting sink queues its batches on. */
export const analyticsExportTopic = (exporter: string): string => `analytics.${exporter}`;

/**
 * Events kept in `analytics_events` as well, and each newly recorded batch queued in the outbox
 * (`analytics.<exporter>`) for the worker's relay to deliver to the outside service with
 * retries and backoff (worker/operations.ts): a provider outage delays events, never loses them.
 */
export function exportingAnalyticsSink(exporter: string): AnalyticsSink {
  const topic = analyticsExportTopic(exporter);
  return {
    name: exporter,
    exportTopic: topic,
    async record(db, events) {
      await recordAnalyticsEventsForExport(db, events.map(toRow), topic);
    },
  };
}
