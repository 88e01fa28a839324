import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

export const WEBHOOK_RESULTS = ['processed', 'ignored', 'duplicate', 'failed'] as const;
export type WebhookResult = (typeof WEBHOOK_RESULTS)[number];

/** The inbox: every verified webhook, stored with its raw payload before any effect. */
export interface WebhookEventsTable {
  id: Generated<string>;
  provider: string;
  event_id: string;
  type: string;
  api_version: string | null;
  livemode: boolean;
  event_created_at: Date;
  payload: ColumnType<unknown, string, string>;
  received_at: Generated<Date>;
  /** When the workflow start (or signal) for this event was confirmed by Temporal. */
  dispatched_at: Date | null;
  processed_at: Date | null;
  result: WebhookResult | null;
  error: string | null;
  workflow_id: string | null;
  dispatch_attempts: Generated<number>;
  /**
   * The W3C trace context of the request that recorded the event (null with tracing off): the
   * workflow start continues that trace wherever and whenever the dispatch happens.
   */
  traceparent: ColumnType<string | null, string | null | undefined, string | null>;
}

export type WebhookEvent = Selectable<WebhookEventsTable>;
export type NewWebhookEvent = Insertable<WebhookEventsTable>;
export type WebhookEventUpdate = Updateable<WebhookEventsTable>;
