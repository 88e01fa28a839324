import { Context } from '@temporalio/activity';
import { runReconciliation } from '../support/reconciliation.ts';
import { runOperationsScan } from '../support/stuck.ts';
import { onTaskQueue } from '../temporal/client.ts';
import type { FulfillmentDeps } from './fulfillment.ts';

/** What the every-minute scan (`opsStuckScanWorkflow`) asks of its activity. */
export interface OperationsScanInput {
  /** The scan's "now" (ISO): the workflow's time, so a test can drive the clock. */
  asOf: string;
  thresholdMinutes: number;
  failureThreshold: number;
  /** The fulfillment task queue whose runs are watched. */
  taskQueue: string;
}

export interface OperationsScanSummary {
  stuck: { workflowId: string; status: string; minutes: number }[];
  alerted: string[];
  failuresLastHour: number;
  failureRateAlerted: boolean;
}

export interface ReconcileInput {
  windowStart: string;
  windowEnd: string;
  heal: boolean;
  actor: string;
}

export interface ReconcileSummary {
  runId: string;
  counts: Record<string, number>;
  findings: number;
  healed: number;
}

/**
 * The schedules' side effects. Both need Temporal itself (visibility, re-driving a
 * fulfillment): they use the worker's own client from the activity context.
 */
export function createOperationsActivities({ db, stripe, alerts }: FulfillmentDeps) {
  return {
    async scanOperations(input: OperationsScanInput): Promise<OperationsScanSummary> {
      const result = await runOperationsScan({
        db,
        temporal: Context.current().client,
        sinks: alerts,
        now: new Date(input.asOf),
        thresholdMinutes: input.thresholdMinutes,
        failureThreshold: input.failureThreshold,
        taskQueue: input.taskQueue,
      });
      return {
        stuck: result.stuck.map(({ workflowId, status, minutes }) => ({
          workflowId,
          status,
          minutes,
        })),
        alerted: result.alerted,
        failuresLastHour: result.failuresLastHour,
        failureRateAlerted: result.failureRateAlerted,
      };
    },

    async reconcile(input: ReconcileInput): Promise<ReconcileSummary> {
      const run = await runReconciliation(
        {
          db,
          stripe,
          // A re-driven fulfillment runs on this worker's task queue.
          temporal: onTaskQueue(Context.current().client, Context.current().info.taskQueue),
          sinks: alerts,
        },
        {
          window: { start: new Date(input.windowStart), end: new Date(input.windowEnd) },
          heal: input.heal,
          actor: input.actor,
        },
      );
      return {
        runId: run.id,
        counts: run.counts,
        findings: run.findings.length,
        healed: run.healed,
      };
    },
  };
}
