import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

export const WEBHOOK_RESULTS = ['processed', 'ignored', 'duplicate', 'failed'] as const;
export type WebhookResult = (typeof WEBHOOK_RESULTS)[number];

/**
 * What became of an event, as operators read it: `pending` (not yet handed to Temporal),
 * `dispatched` (its workflow runs), `fulfilled` / `needs_attention` / `revoked` (its
 * fulfillment's job status), `processed` (recorded, or a refund/dispute handed over),
 * `ignored`, `duplicate`, `failed` (the gateway could not act on it).
 */
export const WEBHOOK_OUTCOMES = [
  'pending',
  'dispatched',
  'fulfilled',
  'needs_attention',
  'revoked',
  'processed',
  'ignored',
  'duplicate',
  'failed',
] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

/** The inbox: every verified webhook, stored with its raw payload before any effect. */
export interface WebhookEventsTable {
  id: Generated<string>;
  provider: string;
  event_id: string;
  type: string;
  api_version: string | null;
  livemode: boolean;
  event_created_at: Date;
  /**
   * The parsed event, or null where PostgreSQL cannot hold it as jsonb (a U+0000 in a string,
   * a body that is not valid UTF-8): `raw_body` then holds it.
   */
  payload: ColumnType<unknown, string | null, string | null>;
  /**
   * The body exactly as the provider signed it (null for events recorded before it was kept).
   * Embedded PGlite returns a plain Uint8Array: readers go through `asBuffer`.
   */
  raw_body: Buffer | null;
  received_at: Generated<Date>;
  /** How many times the provider delivered this event id. */
  deliveries: Generated<number>;
  /** When the workflow start (or signal) for this event was confirmed by Temporal. */
  dispatched_at: Date | null;
  /** `api` (right after the ack), `relay`, or the operator who replayed it. */
  dispatched_by: string | null;
  processed_at: Date | null;
  result: WebhookResult | null;
  error: string | null;
  /** The workflow the event is routed to (known when it is recorded). */
  workflow_id: string | null;
  dispatch_attempts: Generated<number>;
  /** An undispatched event's lease or backoff: the relay claims it from then on. */
  next_dispatch_at: Date | null;
  /**
   * The W3C trace context of the request that recorded the event (null with tracing off): the
   * workflow start continues that trace wherever and whenever the dispatch happens (right
   * after the ack, the relay, a replay).
   */
  traceparent: ColumnType<string | null, string | null | undefined, string | null>;
}

export type WebhookEvent = Selectable<WebhookEventsTable>;
export type NewWebhookEvent = Insertable<WebhookEventsTable>;
export type WebhookEventUpdate = Updateable<WebhookEventsTable>;
