import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { OperationsScanSummary, ReconcileSummary } from '../activities/operations.ts';
import type { OperationsScanWorkflowInput, ReconciliationWorkflowInput } from './contracts.ts';

const scan = proxyActivities<Activities>({
  // A visibility query and a few rows; the next scan is a minute away, so fail fast.
  startToCloseTimeout: '50 seconds',
  retry: { initialInterval: '2 seconds', maximumAttempts: 2 },
});

const reconcile = proxyActivities<Activities>({
  // Listing a day of Stripe charges page by page and re-driving a few workflows.
  startToCloseTimeout: '15 minutes',
  // A Stripe or database outage: three tries over a few minutes, then the run fails visibly
  // (the schedule's next day, or `npm run ops -- reconcile --date`, covers the day again).
  retry: { initialInterval: '30 seconds', backoffCoefficient: 4, maximumAttempts: 3 },
});

/**
 * The scan the removed `ops-stuck-scan` schedule ran every minute: stuck jobs and the failure
 * rate, alerted once, for the fulfillments of the task queue it runs on. The workers now run the
 * same scan as a periodic job (worker/operations.ts); this stays registered so a run the
 * schedule started just before a deploy deleted it can finish.
 * @deprecated
 */
export async function opsStuckScanWorkflow(
  input: OperationsScanWorkflowInput = {},
): Promise<OperationsScanSummary> {
  return scan.scanOperations({
    asOf: input.asOf ?? new Date().toISOString(),
    thresholdMinutes: input.thresholdMinutes ?? 5,
    failureThreshold: input.failureThreshold ?? 3,
    taskQueue: workflowInfo().taskQueue,
  });
}

const scheduledStartTime = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

/**
 * Schedule `ops-reconcile-daily`: reconciles the UTC day before the action's scheduled time.
 * A run the schedule catches up on (the worker or Temporal was down) carries its own
 * scheduled time, so every missed day is reconciled, not today's again.
 */
export async function reconciliationWorkflow(
  input: ReconciliationWorkflowInput = {},
): Promise<ReconcileSummary> {
  const info = workflowInfo();
  const scheduledAt = info.typedSearchAttributes.get(scheduledStartTime) ?? info.startTime;
  const day = input.date ?? new Date(scheduledAt.getTime() - 86_400_000).toISOString().slice(0, 10);
  const start = new Date(`${day}T00:00:00.000Z`);
  // A bad date from a manual start fails the run; thrown as a plain error it would fail the
  // workflow task, which Temporal retries forever.
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(start.getTime())) {
    throw ApplicationFailure.nonRetryable(
      `date must be a UTC day YYYY-MM-DD, got ${day}`,
      'InvalidDate',
    );
  }
  return reconcile.reconcile({
    windowStart: start.toISOString(),
    windowEnd: new Date(start.getTime() + 86_400_000).toISOString(),
    heal: input.heal ?? false,
    actor: input.actor ?? 'schedule',
  });
}
