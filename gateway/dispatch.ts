import { isGrpcServiceError, type Client } from '@temporalio/client';
import type { Db } from '../db/database.ts';
import {
  recordFailedDispatchAttempt,
  settleWebhookDispatch,
  settleWebhookEventWithoutDispatch,
} from '../db/queries/webhook-events.ts';
import type { WebhookEvent, WebhookResult } from '../db/tables/webhook-events.ts';
import { webhookProcessing } from '../observability/metrics.ts';
import { withTraceparent } from '../observability/tracing.ts';
import {
  describeLatestRun,
  signalCheckoutSession,
  signalDisputeEvent,
  startFulfillment,
  startRefund,
} from '../temporal/workflows.ts';
import type { StripeRoute } from './stripe-routing.ts';

export type DispatchableRoute = Extract<StripeRoute, { action: 'fulfill' | 'refund' | 'dispute' }>;

export function isDispatchable(route: StripeRoute): route is DispatchableRoute {
  return route.action === 'fulfill' || route.action === 'refund' || route.action === 'dispute';
}

/**
 * Starts (or signals) the workflow a route names. Starting is idempotent on the workflow id:
 * a run that is open is reused, and "already started" for a closed one is success. Returns
 * true when a Checkout Session's event reached an open run (it is used, not a duplicate).
 */
export async function startRouteWorkflow(
  temporal: Client,
  route: DispatchableRoute,
): Promise<boolean> {
  switch (route.action) {
    case 'fulfill':
      if (route.deliverToRun) return signalCheckoutSession(temporal, route.input);
      await startFulfillment(temporal, route.input);
      return false;
    case 'refund':
      await startRefund(temporal, route.workflowId, route.input, route.paymentIntentId);
      return false;
    case 'dispute':
      await signalDisputeEvent(temporal, route.workflowId, route.input, route.paymentIntentId);
      return false;
  }
}

/**
 * A clock difference between PostgreSQL (the inbox's `received_at`) and the Temporal server
 * (a run's start time) that the re-dispatch check tolerates. Seconds are plenty for servers
 * kept by NTP; a run that started this much before the event arrived counts as its own.
 */
const CLOCK_SKEW_MS = 5_000;

/** Backoff after the n-th failed attempt: 1 s × 2^(n−1), at most 30 s, ±20 % jitter. */
export function dispatchRetryDelaySeconds(attempts: number): number {
  // Capped at 30 s so a backlog left by a Temporal outage is dispatched within half a minute
  // of its return; a row that keeps failing costs one attempt per 30 s and blocks nothing.
  const exponential = 2 ** Math.max(0, attempts - 1);
  return Math.min(30, exponential) * (0.8 + Math.random() * 0.4);
}

/** Temporal refused the request itself (not a timeout or an outage): retrying cannot help. */
function isPermanentTemporalError(error: unknown): boolean {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  if (!isGrpcServiceError(cause)) return false;
  const code: number = cause.code;
  // 3: INVALID_ARGUMENT (a malformed id or input), 7: PERMISSION_DENIED.
  return code === 3 || code === 7;
}

export interface DispatchOutcome {
  /** `processed` / `duplicate` once settled, `failed` when Temporal refused it, null: retried. */
  result: WebhookResult | null;
  error: string | null;
}

export interface DispatchOptions {
  /** Recorded as `dispatched_by` and the audit actor: `api`, `relay`, or an operator. */
  dispatchedBy: string;
  /** The relay counted the attempt when it claimed the row. */
  attemptCounted: boolean;
  /**
   * An earlier attempt may have reached Temporal without being recorded (a process died between
   * the start and the settle): a start whose run began after the event arrived is then not
   * repeated — a failed run is not started a second time by the same event.
   */
  earlierAttemptSince?: Date | null;
  /** Attempts at this row including this one, for the backoff after a failure. */
  attempts: number;
}

/**
 * Hands a recorded event to Temporal and settles its inbox row: `processed`, or `duplicate`
 * when another event already dispatched the same workflow (the checkout session and the
 * payment intent of one purchase). When Temporal does not answer, the row stays undispatched
 * with a per-row backoff for the relay; nothing is lost. The start continues the trace of the
 * request that recorded the event (the row's `traceparent`), whichever process dispatches it
 * and however late. Each attempt counts in `webhook_processing_total` (the SLI).
 */
export async function dispatchInboxEvent(
  db: Db,
  temporal: Client,
  row: Pick<WebhookEvent, 'id' | 'event_id'> & { traceparent?: string | null },
  route: DispatchableRoute,
  options: DispatchOptions,
): Promise<DispatchOutcome> {
  let delivered = false;
  try {
    await withTraceparent(row.traceparent, async () => {
      if (!(await startedSinceEarlierAttempt(temporal, route, options.earlierAttemptSince))) {
        delivered = await startRouteWorkflow(temporal, route);
      }
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (isPermanentTemporalError(error)) {
      const reason = `Temporal refused the dispatch: ${message}`;
      await settleWebhookEventWithoutDispatch(db, row, {
        result: 'failed',
        error: reason,
        actor: options.dispatchedBy,
      });
      webhookProcessing.inc({ provider: 'stripe', outcome: 'failed' });
      return { result: 'failed', error: reason };
    }
    await recordFailedDispatchAttempt(db, row.id, {
      error: message,
      retryInSeconds: dispatchRetryDelaySeconds(options.attempts),
      attemptCounted: options.attemptCounted,
    });
    webhookProcessing.inc({ provider: 'stripe', outcome: 'dispatch_failed' });
    return { result: null, error: message };
  }
  const result = await settleWebhookDispatch(db, row, {
    workflowId: route.workflowId,
    // A session's event signalled into an open run is read by it, even when a payment intent
    // started that run first.
    mayBeDuplicate: route.action === 'fulfill' && !delivered,
    dispatchedBy: options.dispatchedBy,
    attemptCounted: options.attemptCounted,
  });
  // Null: another dispatch of the same event settled it first, and counted it.
  if (result) webhookProcessing.inc({ provider: 'stripe', outcome: result });
  return { result, error: null };
}

/**
 * Whether a start an earlier attempt may have made already happened: the workflow's latest run
 * began after the event arrived. Signals (disputes) are not checked: applying a dispute event
 * twice changes nothing (the adjustment ledger is keyed by the dispute).
 */
async function startedSinceEarlierAttempt(
  temporal: Client,
  route: DispatchableRoute,
  since: Date | null | undefined,
): Promise<boolean> {
  if (!since || route.action === 'dispute') return false;
  const run = await describeLatestRun(temporal, route.workflowId);
  return run !== null && run.startTime.getTime() >= since.getTime() - CLOCK_SKEW_MS;
}
