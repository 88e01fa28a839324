import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleOptions,
} from '@temporalio/client';
import {
  FULFILLMENT_TASK_QUEUE,
  WORKFLOW_TYPES,
  type ReconciliationWorkflowInput,
} from '../workflows/contracts.ts';

export const RECONCILE_SCHEDULE_ID = 'ops-reconcile-daily';

/**
 * Schedules earlier versions created that no longer exist: deleted wherever they remain.
 * `ops-stuck-scan` ran the stuck scan every minute (about 5,760 actions a day); the scan is now
 * a periodic job in the workers (worker/operations.ts), at no Temporal cost.
 */
export const OBSOLETE_SCHEDULE_IDS = ['ops-stuck-scan'] as const;

export interface OperationsScheduleOptions {
  /** RECONCILE_AUTO_HEAL: the daily run re-drives the safe classes itself. */
  reconcileAutoHeal: boolean;
  /** When the daily reconciliation runs (cron, UTC): it covers the UTC day before. */
  reconcileCron: string;
  taskQueue?: string;
}

/** The schedules' definitions (exported so a test can hold them to what the docs say). */
export function operationsSchedules(options: OperationsScheduleOptions): ScheduleOptions[] {
  const taskQueue = options.taskQueue ?? FULFILLMENT_TASK_QUEUE;
  const reconcileInput: ReconciliationWorkflowInput = {
    heal: options.reconcileAutoHeal,
    actor: 'schedule',
  };
  return [
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
 * policies), and deletes the obsolete ones, so every worker start converges on the
 * configuration. Safe to run from many workers at once.
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
  for (const scheduleId of OBSOLETE_SCHEDULE_IDS) {
    try {
      await client.schedule.getHandle(scheduleId).delete();
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    }
  }
  return ids;
}
