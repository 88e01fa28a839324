import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { withinTimeout } from '../temporal/client.ts';
import { recordAudit } from '../db/queries/audit.ts';
import type { WebhookEvent, WebhookResult } from '../db/tables/webhook-events.ts';
import {
  disputeEventSignal,
  FULFILLMENT_TASK_QUEUE,
  operatorRevocationWorkflowId,
  resendWorkflowId,
  rewardRevocationWorkflowId,
  type ResendInput,
  type RewardRevocationInput,
  searchAttributes,
} from '../workflows/contracts.ts';
import type { StripeRoute } from './stripe-routing.ts';

/** How long one webhook request waits for Temporal before leaving the event to the relay. */
const TEMPORAL_DISPATCH_DEADLINE_MS = 5_000;

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
  await withinDispatchDeadline(temporal, async () => {
    switch (route.action) {
      case 'fulfill':
        await temporal.workflow.start('fulfillmentWorkflow', {
          taskQueue: FULFILLMENT_TASK_QUEUE,
          workflowId: route.workflowId,
          args: [route.input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          // A completed fulfillment is never repeated; a failed or terminated one may be.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          typedSearchAttributes: [
            { key: searchAttributes.fulfillmentStatus, value: 'pending_storage' },
            { key: searchAttributes.orderSource, value: route.input.source },
            ...(route.input.paymentIntentId
              ? [{ key: searchAttributes.paymentIntentId, value: route.input.paymentIntentId }]
              : []),
          ],
        });
        return;
      case 'refund':
        await startOnce(temporal, 'refundWorkflow', route.workflowId, route.input);
        return;
      case 'dispute':
        // Created and closed events of one dispute meet in one workflow; a closed run is
        // started again, and applying an event twice changes nothing.
        await temporal.workflow.signalWithStart('disputeWorkflow', {
          taskQueue: FULFILLMENT_TASK_QUEUE,
          workflowId: route.workflowId,
          args: [],
          signal: disputeEventSignal,
          signalArgs: [route.input],
        });
        return;
    }
  });
}

/** Starts `revoke-reward-<reward_id>` (idempotent like every start here). */
export async function startRewardRevocation(
  temporal: Client,
  input: RewardRevocationInput,
): Promise<string> {
  const workflowId = rewardRevocationWorkflowId(input.rewardId);
  await withinDispatchDeadline(temporal, () =>
    startOnce(temporal, 'rewardRevocationWorkflow', workflowId, input),
  );
  return workflowId;
}

/** Starts `resend-<order>-<n>` (the same n twice is one email). */
export async function startResend(temporal: Client, input: ResendInput): Promise<string> {
  const workflowId = resendWorkflowId(input.orderId, input.sequence);
  await withinDispatchDeadline(temporal, () =>
    startOnce(temporal, 'resendLinksWorkflow', workflowId, input),
  );
  return workflowId;
}

/** Starts the cancellation email of an order an operator revoked (once per order). */
export async function startOperatorRevocation(temporal: Client, orderId: string): Promise<string> {
  const workflowId = operatorRevocationWorkflowId(orderId);
  await withinDispatchDeadline(temporal, () =>
    startOnce(temporal, 'operatorRevocationWorkflow', workflowId, { orderId }),
  );
  return workflowId;
}

/**
 * Starts a one-shot workflow by business id: an open run is reused, a completed one is not
 * repeated, and a failed or terminated one may be started again.
 */
function startOnce(temporal: Client, workflowType: string, workflowId: string, input: unknown) {
  return temporal.workflow.start(workflowType, {
    taskQueue: FULFILLMENT_TASK_QUEUE,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
  });
}

/**
 * Runs a start within the dispatch deadline; "already started" for a closed run is success.
 * A gRPC deadline does not bound a lazy client's first connection attempt, so the call is
 * also raced against a timer (a start that lands later is harmless: starts are idempotent).
 */
async function withinDispatchDeadline(
  temporal: Client,
  start: () => Promise<unknown>,
): Promise<void> {
  const deadline = new Date(Date.now() + TEMPORAL_DISPATCH_DEADLINE_MS);
  const call = temporal.connection.withDeadline(deadline, async () => {
    try {
      await start();
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  });
  await withinTimeout(call, TEMPORAL_DISPATCH_DEADLINE_MS, 'Temporal');
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
 * undispatched (result null) for the relay; nothing is lost.
 */
export async function dispatchRecordedEvent(
  db: Db,
  temporal: Client,
  row: Pick<WebhookEvent, 'id' | 'event_id'>,
  route: DispatchableRoute,
  actor: string,
): Promise<DispatchOutcome> {
  try {
    await startRouteWorkflow(temporal, route);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await db
      .updateTable('webhook_events')
      .set((eb) => ({ dispatch_attempts: eb('dispatch_attempts', '+', 1), error: message }))
      .where('id', '=', row.id)
      .execute();
    return { result: null, workflowId: route.workflowId, error: message };
  }
  return db.transaction().execute(async (trx) => {
    const other = await trx
      .selectFrom('webhook_events')
      .select('id')
      .where('workflow_id', '=', route.workflowId)
      .where('event_id', '<>', row.event_id)
      .where('dispatched_at', 'is not', null)
      .executeTakeFirst();
    const result: WebhookResult = route.action === 'fulfill' && other ? 'duplicate' : 'processed';
    const updated = await trx
      .updateTable('webhook_events')
      .set((eb) => ({
        dispatched_at: sql<Date>`now()`,
        processed_at: sql<Date>`now()`,
        result,
        workflow_id: route.workflowId,
        error: null,
        dispatch_attempts: eb('dispatch_attempts', '+', 1),
      }))
      .where('id', '=', row.id)
      .where('result', 'is', null)
      .returning('id')
      .executeTakeFirst();
    // Only the dispatch that settled the row audits it (concurrent duplicates race here).
    if (updated) {
      await recordAudit(trx, {
        actor,
        action: result === 'duplicate' ? 'webhook.duplicate' : 'webhook.processed',
        target: row.event_id,
        detail: { workflowId: route.workflowId },
      });
    }
    return { result, workflowId: route.workflowId, error: null };
  });
}
