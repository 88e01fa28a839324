import { trace } from '@opentelemetry/api';
import type { Db } from '../db/database.ts';
import { receiveWebhookEvent, type ReceivedWebhookEvent } from '../db/queries/webhook-events.ts';
import { jsonbCanHold } from '../db/storable.ts';
import type { WebhookResult } from '../db/tables/webhook-events.ts';
import { webhookProcessing } from '../observability/metrics.ts';
import { currentTraceparent } from '../observability/tracing.ts';
import type { GatewayMetrics } from '../observability/webhook-metrics.ts';
import type { Client } from '@temporalio/client';
import { dispatchInboxEvent, isDispatchable, type DispatchableRoute } from './dispatch.ts';
import { routeStripeEvent, type StripeRoute } from './stripe-routing.ts';

export interface StripeEventEnvelope {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  api_version?: string | null;
  data: { object: unknown };
}

/** What a Stripe delivery carried: the bytes as signed, and the event parsed from them. */
export interface StripeDelivery {
  rawBody: Buffer;
  event: StripeEventEnvelope;
  /** False when the bytes are not valid UTF-8 (the event was parsed from a lossy decoding). */
  utf8: boolean;
}

export interface RecordedStripeEvent {
  row: ReceivedWebhookEvent;
  /** False when this event id was recorded before (a redelivery). */
  inserted: boolean;
  route: StripeRoute;
  /** Set when the event was newly recorded and still needs its workflow started or signalled. */
  toDispatch: DispatchableRoute | null;
}

/** A recorded event that needs no workflow: its result is final when it is recorded. */
function presetResult(route: StripeRoute): { result: WebhookResult | null; error: string | null } {
  switch (route.action) {
    case 'ignore':
      return { result: 'ignored', error: null };
    case 'record':
      return { result: 'processed', error: null };
    case 'reject':
      return { result: 'failed', error: route.error };
    default:
      return { result: null, error: null };
  }
}

/**
 * Records a verified Stripe event in the inbox with its audit entry — one statement, the one
 * durable write the acknowledgement waits for — and says whether it still needs dispatching.
 * Whatever Stripe signed is kept: the raw bytes always, the parsed JSON where PostgreSQL can
 * hold it. A body that is not valid UTF-8 is recorded as `failed` (its meaning is uncertain);
 * a U+0000 somewhere in the event is recorded and routed like any other event.
 *
 * `leaseSeconds`: how long the recording process holds the event for its own dispatch before
 * any relay may claim it (0: due for the relay at once).
 */
export async function recordStripeEvent(
  db: Db,
  { rawBody, event, utf8 }: StripeDelivery,
  context: {
    actor: string;
    requestId?: string | null;
    leaseSeconds: number;
    metrics?: GatewayMetrics;
  },
): Promise<RecordedStripeEvent> {
  const route: StripeRoute = utf8
    ? routeStripeEvent(event)
    : { action: 'reject', error: 'body is not valid UTF-8: recorded as received, not acted on' };
  const preset = presetResult(route);
  // Find a purchase's trace by the Stripe event (`npm run ops -- events list` shows its id).
  trace
    .getActiveSpan()
    ?.setAttributes({ 'stripe.event_id': event.id, 'stripe.event_type': event.type });
  const { event: row, inserted } = await receiveWebhookEvent(
    db,
    {
      provider: 'stripe',
      eventId: event.id,
      type: event.type,
      apiVersion: event.api_version ?? null,
      livemode: event.livemode,
      eventCreatedAt: new Date(event.created * 1000),
      payloadJson: utf8 && jsonbCanHold(event) ? rawBody.toString('utf8') : null,
      rawBody,
      result: preset.result,
      error: preset.error,
      workflowId: isDispatchable(route) ? route.workflowId : null,
      leaseSeconds: context.leaseSeconds,
      // Whoever dispatches it (this process right after the commit, a relay, a replay)
      // continues this request's trace.
      traceparent: currentTraceparent(),
    },
    { actor: context.actor, requestId: context.requestId ?? null },
  );
  // Events to dispatch are counted when their dispatch settles.
  const counted = inserted ? preset.result : 'duplicate';
  if (counted) {
    context.metrics?.events.inc({ provider: 'stripe', type: event.type, result: counted });
    // The webhook-processing SLI: what needs no dispatch ends here, the rest in the dispatch.
    webhookProcessing.inc({ provider: 'stripe', outcome: counted });
  }
  return {
    row,
    inserted,
    route,
    toDispatch: inserted && isDispatchable(route) ? route : null,
  };
}

export interface IngestOutcome {
  /** False when this event id was recorded before (a redelivery). */
  inserted: boolean;
  route: StripeRoute['action'];
  result: WebhookResult | null;
  workflowId: string | null;
  /** Why the workflow could not be started now (the relay retries), or why it failed. */
  error: string | null;
}

/**
 * Records an event that did not come through the webhook route (reconciliation finding a
 * purchase Stripe never delivered, benchmarks) and dispatches it before returning, so the
 * caller sees where it ended; a Temporal outage leaves it to the relay.
 */
export async function ingestStripeEvent(
  { db, temporal, metrics }: { db: Db; temporal: Client; metrics?: GatewayMetrics },
  event: StripeEventEnvelope,
  rawPayload: string,
  context: { actor: string; requestId?: string },
): Promise<IngestOutcome> {
  const recorded = await recordStripeEvent(
    db,
    { rawBody: Buffer.from(rawPayload, 'utf8'), event, utf8: true },
    // Dispatched below; held from the relay as long as the webhook route holds its events.
    {
      actor: context.actor,
      requestId: context.requestId ?? null,
      leaseSeconds: 30,
      ...(metrics ? { metrics } : {}),
    },
  );
  const outcome: IngestOutcome = {
    inserted: recorded.inserted,
    route: recorded.route.action,
    result: recorded.row.result,
    workflowId: recorded.row.workflow_id,
    error: recorded.row.error,
  };
  if (!recorded.toDispatch) return outcome;
  const dispatched = await dispatchInboxEvent(db, temporal, recorded.row, recorded.toDispatch, {
    dispatchedBy: context.actor,
    attemptCounted: false,
    attempts: 1,
  });
  if (dispatched.result)
    metrics?.events.inc({ provider: 'stripe', type: event.type, result: dispatched.result });
  return { ...outcome, result: dispatched.result, error: dispatched.error };
}
