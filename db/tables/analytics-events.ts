import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Product analytics, stored locally (the default sink); one row per event key. */
export interface AnalyticsEventsTable {
  id: Generated<string>;
  event_key: string;
  name: string;
  order_id: string | null;
  customer_id: string | null;
  /** What the event is about, when it is about one entitlement or product. */
  entitlement_id: ColumnType<string | null, string | null | undefined, string | null>;
  product_id: ColumnType<string | null, string | null | undefined, string | null>;
  properties: ColumnType<unknown, string | null, never> | null;
  created_at: Generated<Date>;
}

export type AnalyticsEvent = Selectable<AnalyticsEventsTable>;
export type NewAnalyticsEvent = Insertable<AnalyticsEventsTable>;
