import type { Client } from '@temporalio/client';
import type { Db } from '../db/database.ts';
import {
  recordFailedDispatchAttempt,
  settleWebhookDispatch,
} from '../db/queries/webhook-events.ts';
import type { WebhookEvent, WebhookResult } from '../db/tables/webhook-events.ts';
import { signalDisputeEvent, startFulfillment, startRefund } from '../temporal/workflows.ts';
import { webhookProcessing } from '../observability/metrics.ts';
import { withTraceparent } from '../observability/tracing.ts';
import type { StripeRoute } from './stripe-routing.ts';

type DispatchableRoute = Extract<StripeRoute, { action: 'fulfill' | 'refund' | 'dispute' }>;

export function isDispatchable(route: StripeRoute): route is DispatchableRoute {
  return route.action === 'fulfill' || route.action === 'refund' || route.action === 'dispute';
}

/**
 * Starts (or signals) the workflow a route names. Starting is idempotent on the workflow id:
 * a run that is open is reused, and "already started" for a closed one is success.
 */
export async function startRouteWorkflow(
  temporal: Client,
  route: DispatchableRoute,
): Promise<void> {
  switch (route.action) {
    case 'fulfill':
      await startFulfillment(temporal, route.input);
      return;
    case 'refund':
      await startRefund(temporal, route.workflowId, route.input);
      return;
    case 'dispute':
      await signalDisputeEvent(temporal, route.workflowId, route.input);
      return;
  }
}

export interface DispatchOutcome {
  result: WebhookResult | null;
  workflowId: string | null;
  error: string | null;
}

/**
 * Hands a recorded event to Temporal and records the result on its inbox row: `processed`, or
 * `duplicate` when another event already dispatched the same workflow (the checkout session
 * and the payment intent of one purchase). When Temporal does not answer the row stays
 * undispatched (result null) for the relay; nothing is lost. The start continues the trace of
 * the request that recorded the event (its `traceparent`), whichever process dispatches it.
 */
export async function dispatchRecordedEvent(
  db: Db,
  temporal: Client,
  row: Pick<WebhookEvent, 'id' | 'event_id'> & { traceparent?: string | null },
  route: DispatchableRoute,
  actor: string,
): Promise<DispatchOutcome> {
  try {
    await withTraceparent(row.traceparent, () => startRouteWorkflow(temporal, route));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await recordFailedDispatchAttempt(db, row.id, message);
    webhookProcessing.inc({ provider: 'stripe', outcome: 'dispatch_failed' });
    return { result: null, workflowId: route.workflowId, error: message };
  }
  const result = await settleWebhookDispatch(db, row, {
    workflowId: route.workflowId,
    mayBeDuplicate: route.action === 'fulfill',
    actor,
  });
  webhookProcessing.inc({ provider: 'stripe', outcome: result });
  return { result, workflowId: route.workflowId, error: null };
}
