import { ScheduleAlreadyRunning, type Client, type ScheduleOptions } from '@temporalio/client';
import {
  FULFILLMENT_TASK_QUEUE,
  WORKFLOW_TYPES,
  type OperationsScanWorkflowInput,
  type ReconciliationWorkflowInput,
} from '../workflows/contracts.ts';

export const STUCK_SCAN_SCHEDULE_ID = 'ops-stuck-scan';
export const RECONCILE_SCHEDULE_ID = 'ops-reconcile-daily';

export interface OperationsScheduleOptions {
  stuckThresholdMinutes: number;
  failureRateThreshold: number;
  /** RECONCILE_AUTO_HEAL: the daily run re-drives the safe classes itself. */
  reconcileAutoHeal: boolean;
  /** When the daily reconciliation runs (cron, UTC): it covers the UTC day before. */
  reconcileCron: string;
  taskQueue?: string;
}

/** The schedules' definitions (exported so a test can hold them to what the docs say). */
export function operationsSchedules(options: OperationsScheduleOptions): ScheduleOptions[] {
  const taskQueue = options.taskQueue ?? FULFILLMENT_TASK_QUEUE;
  const scanInput: OperationsScanWorkflowInput = {
    thresholdMinutes: options.stuckThresholdMinutes,
    failureThreshold: options.failureRateThreshold,
  };
  const reconcileInput: ReconciliationWorkflowInput = {
    heal: options.reconcileAutoHeal,
    actor: 'schedule',
  };
  return [
    {
      scheduleId: STUCK_SCAN_SCHEDULE_ID,
      spec: { intervals: [{ every: '1 minute' }] },
      action: {
        type: 'startWorkflow',
        workflowType: WORKFLOW_TYPES.opsStuckScan,
        workflowId: 'ops-stuck-scan',
        taskQueue,
        args: [scanInput],
      },
      policies: {
        // A scan that is still running makes the next one pointless: skip it.
        overlap: 'SKIP',
        // Missed scans are not worth replaying: the next one sees everything anyway.
        catchupWindow: '1 minute',
      },
      memo: { purpose: 'stuck fulfillments and failure-rate alerts' },
    },
    {
      scheduleId: RECONCILE_SCHEDULE_ID,
      spec: { cronExpressions: [options.reconcileCron] },
      action: {
        type: 'startWorkflow',
        workflowType: WORKFLOW_TYPES.reconciliation,
        workflowId: 'ops-reconcile',
        taskQueue,
        args: [reconcileInput],
      },
      policies: {
        // Every missed day is reconciled, one after the other (each run reconciles the day
        // before its own scheduled time).
        overlap: 'BUFFER_ALL',
        // Catch up on a week of missed days after an outage (Stripe keeps events 30 days).
        catchupWindow: '7 days',
      },
      memo: { purpose: 'daily Stripe reconciliation' },
    },
  ];
}

/**
 * Creates the operations schedules, or brings existing ones up to date (spec, action and
 * policies), so every worker start converges on the configuration. Safe to run from many
 * workers at once.
 */
export async function ensureOperationsSchedules(
  client: Client,
  options: OperationsScheduleOptions,
): Promise<string[]> {
  const ids: string[] = [];
  for (const schedule of operationsSchedules(options)) {
    try {
      await client.schedule.create(schedule);
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      await client.schedule.getHandle(schedule.scheduleId).update((previous) => ({
        ...previous,
        spec: schedule.spec,
        action: schedule.action,
        policies: { ...previous.policies, ...schedule.policies },
      }));
    }
    ids.push(schedule.scheduleId);
  }
  return ids;
}
