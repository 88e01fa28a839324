import { ScheduleAlreadyRunning, type Client, type ScheduleOptions } from '@temporalio/client';
import type { Config } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import { connectTemporalClient, type TemporalTarget } from './client.ts';
import { startWorkerMetricsServer, temporalMetricsBindAddress } from '../worker/metrics-server.ts';
import type {
  OperationsScanWorkflowInput,
  ReconciliationWorkflowInput,
} from '../workflows/operations.ts';

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
        workflowType: 'opsStuckScanWorkflow',
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
        workflowType: 'reconciliationWorkflow',
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

/**
 * What a worker process runs besides the worker: the operations schedules (created or
 * updated once at start) and its /metrics endpoint on `WORKER_METRICS_PORT` (0: none).
 * `close` stops the endpoint.
 */
export async function startWorkerOperations(
  config: Pick<
    Config,
    | 'WORKER_METRICS_HOST'
    | 'WORKER_METRICS_PORT'
    | 'TEMPORAL_METRICS_ADDRESS'
    | 'STUCK_THRESHOLD_MINUTES'
    | 'FAILURE_RATE_THRESHOLD'
    | 'RECONCILE_AUTO_HEAL'
    | 'RECONCILE_CRON'
  >,
  db: Db,
  target: TemporalTarget,
): Promise<{ metricsUrl: string | null; close(): Promise<void> }> {
  const client = await connectTemporalClient(target);
  try {
    await ensureOperationsSchedules(client, {
      stuckThresholdMinutes: config.STUCK_THRESHOLD_MINUTES,
      failureRateThreshold: config.FAILURE_RATE_THRESHOLD,
      reconcileAutoHeal: config.RECONCILE_AUTO_HEAL,
      reconcileCron: config.RECONCILE_CRON,
    });
  } finally {
    await client.connection.close();
  }
  if (config.WORKER_METRICS_PORT === 0) return { metricsUrl: null, close: async () => {} };
  const metrics = await startWorkerMetricsServer({
    db,
    host: config.WORKER_METRICS_HOST,
    port: config.WORKER_METRICS_PORT,
    temporalMetricsAddress: temporalMetricsBindAddress(config),
  });
  return { metricsUrl: metrics.url, close: () => metrics.close() };
}
