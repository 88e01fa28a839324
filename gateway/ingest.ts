import { trace } from '@opentelemetry/api';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/database.ts';
import { receiveWebhookEvent } from '../db/queries/webhook-events.ts';
import type { WebhookResult } from '../db/tables/webhook-events.ts';
import { dispatchRecordedEvent, isDispatchable } from './dispatch.ts';
import { webhookProcessing } from '../observability/metrics.ts';
import { currentTraceparent } from '../observability/tracing.ts';
import type { GatewayMetrics } from '../observability/webhook-metrics.ts';
import { routeStripeEvent, type StripeRoute } from './stripe-routing.ts';

export interface StripeEventEnvelope {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  api_version?: string | null;
  data: { object: unknown };
}

export interface IngestDeps {
  db: Db;
  temporal: Client;
  metrics?: GatewayMetrics;
}

export interface IngestOutcome {
  /** False when this event id was recorded before (a redelivery). */
  inserted: boolean;
  route: StripeRoute['action'];
  result: WebhookResult | null;
  workflowId: string | null;
  /** Why the workflow could not be started now (the relay will retry), or why it failed. */
  error: string | null;
}

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
 * The one path every Stripe event takes — live webhook, relay, replay and gap check: record it
 * in the inbox (with its audit entry) before any effect, then start or signal its workflow.
 * Returns once the event is durably recorded; a Temporal outage leaves it to the relay.
 */
export async function ingestStripeEvent(
  { db, temporal, metrics }: IngestDeps,
  event: StripeEventEnvelope,
  rawPayload: string,
  context: { actor: string; requestId?: string },
): Promise<IngestOutcome> {
  const route = routeStripeEvent(event);
  const preset = presetResult(route);
  // Find a purchase's trace by the Stripe event (`npm run ops -- events list` shows its id).
  trace
    .getActiveSpan()
    ?.setAttributes({ 'stripe.event_id': event.id, 'stripe.event_type': event.type });
  // Recorded and audited in one transaction (webhook.received, .failed or .duplicate).
  const { event: row, inserted } = await receiveWebhookEvent(
    db,
    {
      provider: 'stripe',
      event_id: event.id,
      type: event.type,
      api_version: event.api_version ?? null,
      livemode: event.livemode,
      event_created_at: new Date(event.created * 1000),
      payload: rawPayload,
      dispatched_at: null,
      processed_at: preset.result ? new Date() : null,
      result: preset.result,
      error: preset.error,
      workflow_id: null,
      // The workflow start continues this request's trace, even from the relay.
      traceparent: currentTraceparent(),
    },
    { actor: context.actor, requestId: context.requestId ?? null },
  );

  let outcome: IngestOutcome = {
    inserted,
    route: route.action,
    result: row.result,
    workflowId: row.workflow_id,
    error: row.error,
  };
  // A redelivery of an event the relay has not dispatched yet is dispatched now.
  if (isDispatchable(route) && row.result === null) {
    const dispatched = await dispatchRecordedEvent(db, temporal, row, route, context.actor);
    outcome = { ...outcome, ...dispatched };
  }
  metrics?.events.inc({
    provider: 'stripe',
    type: event.type,
    result: inserted ? (outcome.result ?? 'pending') : 'duplicate',
  });
  // What the dispatch above did is counted there; the rest ends here (webhook-processing SLI).
  if (!inserted && row.result !== null)
    webhookProcessing.inc({ provider: 'stripe', outcome: 'duplicate' });
  else if (preset.result) webhookProcessing.inc({ provider: 'stripe', outcome: preset.result });
  return outcome;
}
