import type { Client } from '@temporalio/client';
import { describeWorkflowStatus } from '../temporal/workflows.ts';
import type { Db } from '../db/database.ts';
import { recordAudit } from '../db/queries/audit.ts';
import type { WebhookEvent } from '../db/tables/webhook-events.ts';
import { withTraceparent } from '../observability/tracing.ts';
import { dispatchInboxEvent, isDispatchable, startRouteWorkflow } from './dispatch.ts';
import type { StripeEventEnvelope } from './ingest.ts';
import { routeStripeEvent } from './stripe-routing.ts';

export interface ReplayPlan {
  eventId: string;
  type: string;
  workflowId: string | null;
  /** The workflow's status before the replay (`none` when Temporal has no run of it). */
  workflowStatus: string;
  /** What the replay does (or, with --dry-run, would do). */
  change: string;
}

async function workflowStatus(temporal: Client, workflowId: string): Promise<string> {
  const status = await describeWorkflowStatus(temporal, workflowId);
  return status === 'NONE' ? 'none' : status;
}

function plannedChange(action: string, status: string): string {
  if (action === 'dispute')
    return status === 'RUNNING'
      ? 'signal the running dispute workflow'
      : 'start the dispute workflow';
  if (status === 'none') return 'start the workflow';
  if (status === 'RUNNING') return 'none: the workflow is running';
  if (status === 'COMPLETED') return 'none: the workflow completed';
  return `start a new run (the last one is ${status.toLowerCase()})`;
}

/**
 * Re-runs recorded events through the same path they took when they arrived. Every step is
 * idempotent, so a replay only changes what did not happen: a failed run is started again, an
 * undispatched event is dispatched; a completed fulfillment stays as it is. Each start continues
 * the trace of the request that recorded the event.
 */
export async function replayEvents(
  db: Db,
  temporal: Client,
  events: Pick<
    WebhookEvent,
    'id' | 'event_id' | 'type' | 'payload' | 'result' | 'dispatch_attempts' | 'traceparent'
  >[],
  { dryRun, operator, reason }: { dryRun: boolean; operator: string; reason?: string | undefined },
): Promise<ReplayPlan[]> {
  const plans: ReplayPlan[] = [];
  for (const event of events) {
    const route = event.payload
      ? routeStripeEvent(event.payload as StripeEventEnvelope)
      : ({ action: 'reject', error: 'the recorded event cannot be read' } as const);
    if (!isDispatchable(route)) {
      plans.push({
        eventId: event.event_id,
        type: event.type,
        workflowId: null,
        workflowStatus: 'none',
        change: `none: ${route.action} event`,
      });
      continue;
    }
    const status = await workflowStatus(temporal, route.workflowId);
    const plan = {
      eventId: event.event_id,
      type: event.type,
      workflowId: route.workflowId,
      workflowStatus: status,
      change: plannedChange(route.action, status),
    };
    plans.push(plan);
    if (dryRun) continue;
    if (event.result === null) {
      await dispatchInboxEvent(db, temporal, event, route, {
        dispatchedBy: operator,
        attemptCounted: false,
        attempts: event.dispatch_attempts + 1,
      });
    } else {
      // A new run joins the purchase's trace, as the first dispatch did.
      await withTraceparent(event.traceparent, () => startRouteWorkflow(temporal, route));
    }
    await recordAudit(db, {
      actor: operator,
      action: 'webhook.replayed',
      target: event.event_id,
      reason: reason ?? null,
      detail: { ...plan },
    });
  }
  return plans;
}
