import type { Client } from '@temporalio/client';
import { raiseAlert, type AlertSinks } from './alerts.ts';
import type { Db } from '../db/database.ts';
import { listJobIdsFailedBetween, listJobsWithLastEventAt } from '../db/queries/stuck.ts';
import {
  FULFILLMENT_STATUSES,
  searchAttributes,
  type FulfillmentStatus,
} from '../workflows/contracts.ts';

/** The in-flight statuses: a run showing one of these for too long is stuck. */
export const PENDING_STATUSES = FULFILLMENT_STATUSES.filter((status) =>
  status.startsWith('pending_'),
);

/** Defaults of the scan (STUCK_THRESHOLD_MINUTES, FAILURE_RATE_THRESHOLD). */
export const DEFAULT_STUCK_THRESHOLD_MINUTES = 5;
export const DEFAULT_FAILURE_RATE_THRESHOLD = 3;

/**
 * How often the workers' periodic job scans (worker/periodic.ts: once per interval across the
 * fleet). A run stuck for 5 minutes is alerted within 6: the periodic job asks for its turn
 * every quarter interval (±25 %), so turns start at most 30 s + 9.4 s apart, and a run that
 * crosses the threshold just after one scan is seen by the next, 5 min 40 s in at worst. The
 * scan costs no Temporal action (a visibility list is not billed), so the interval is set by
 * the alerting promise, not by cost.
 */
export const STUCK_SCAN_INTERVAL_SECONDS = 30;

export interface StuckJob {
  workflowId: string;
  runId: string;
  status: FulfillmentStatus;
  /** When the run entered its current status: the job's last event, else the run's start. */
  since: Date;
  minutes: number;
  jobId: string | null;
  orderId: string | null;
  paymentIntentId: string | null;
}

/**
 * The Temporal visibility query for running fulfillments in a `pending_*` status. A completed
 * job whose run is still open for its reminders shows `completed`, so it never matches.
 */
export function stuckVisibilityQuery(taskQueue?: string): string {
  const statuses = PENDING_STATUSES.map((status) => `"${status}"`).join(', ');
  const query = `WorkflowType = "fulfillmentWorkflow" AND ExecutionStatus = "Running" AND ${searchAttributes.fulfillmentStatus.name} IN (${statuses})`;
  return taskQueue ? `${query} AND TaskQueue = "${taskQueue}"` : query;
}

/**
 * Running fulfillments whose `FulfillmentStatus` has been a `pending_*` state for more than
 * `thresholdMinutes` at `now`. Visibility says which runs are pending (the search attribute
 * is the workflow's own status); Postgres says since when (every status change appends a
 * `fulfillment_job_events` row in the transaction that makes it). Before the job row exists
 * (the first step) the run's start time stands in.
 */
export async function findStuckJobs({
  db,
  temporal,
  now,
  thresholdMinutes = DEFAULT_STUCK_THRESHOLD_MINUTES,
  taskQueue,
}: {
  db: Db;
  temporal: Client;
  now: Date;
  thresholdMinutes?: number;
  /** Only runs on this task queue (the scan watches the queue it runs on). */
  taskQueue?: string | undefined;
}): Promise<StuckJob[]> {
  const running: {
    workflowId: string;
    runId: string;
    status: FulfillmentStatus;
    start: Date;
    pi: string | null;
  }[] = [];
  for await (const execution of temporal.workflow.list({
    query: stuckVisibilityQuery(taskQueue),
  })) {
    const status = execution.typedSearchAttributes.get(searchAttributes.fulfillmentStatus);
    if (!status || !(PENDING_STATUSES as readonly string[]).includes(status)) continue;
    running.push({
      workflowId: execution.workflowId,
      runId: execution.runId,
      status: status as FulfillmentStatus,
      start: execution.startTime,
      pi: execution.typedSearchAttributes.get(searchAttributes.paymentIntentId) ?? null,
    });
  }
  if (running.length === 0) return [];
  const jobs = await listJobsWithLastEventAt(
    db,
    running.map((run) => run.workflowId),
  );
  const byWorkflow = new Map(jobs.map((job) => [job.workflow_id, job]));
  const stuck: StuckJob[] = [];
  for (const run of running) {
    const job = byWorkflow.get(run.workflowId);
    const lastEvent = job?.last_event_at ? new Date(job.last_event_at) : null;
    // A run started again (a replay) keeps its job: the later of the two is when it began waiting.
    const since = lastEvent && lastEvent > run.start ? lastEvent : run.start;
    const minutes = (now.getTime() - since.getTime()) / 60_000;
    if (minutes <= thresholdMinutes) continue;
    stuck.push({
      workflowId: run.workflowId,
      runId: run.runId,
      status: run.status,
      since,
      minutes: Math.floor(minutes),
      jobId: job?.id ?? null,
      orderId: job?.order_id ?? null,
      paymentIntentId: run.pi,
    });
  }
  return stuck.sort((a, b) => a.since.getTime() - b.since.getTime());
}

/** Jobs that failed (`needs_attention`) in the hour before `now`. */
export async function countRecentFailures(db: Db, now: Date): Promise<string[]> {
  return listJobIdsFailedBetween(db, new Date(now.getTime() - 3_600_000), now);
}

export interface OperationsScanResult {
  stuck: StuckJob[];
  /** Workflow ids alerted by this scan (each run is alerted once, ever). */
  alerted: string[];
  failuresLastHour: number;
  failureRateAlerted: boolean;
}

/**
 * The stuck scan (a periodic job of the workers): one alert per stuck run (key `stuck:<workflow id>:<run id>`) and
 * one failure-rate alert per clock hour in which more than `failureThreshold` jobs failed
 * within the hour before (key `failure-rate:<YYYY-MM-DDTHH>`). Each alert is stored, logged
 * as a JSON line and posted to the sinks by raiseAlert.
 */
export async function runOperationsScan({
  db,
  temporal,
  sinks,
  now,
  thresholdMinutes = DEFAULT_STUCK_THRESHOLD_MINUTES,
  failureThreshold = DEFAULT_FAILURE_RATE_THRESHOLD,
  taskQueue,
}: {
  db: Db;
  temporal: Client;
  sinks: AlertSinks;
  now: Date;
  thresholdMinutes?: number;
  failureThreshold?: number;
  taskQueue?: string | undefined;
}): Promise<OperationsScanResult> {
  const stuck = await findStuckJobs({ db, temporal, now, thresholdMinutes, taskQueue });
  const alerted: string[] = [];
  for (const job of stuck) {
    const raised = await raiseAlert(db, sinks, {
      key: `stuck:${job.workflowId}:${job.runId}`,
      kind: 'fulfillment.stuck',
      severity: 'warning',
      summary: `${job.workflowId} has been ${job.status} for ${job.minutes} minutes`,
      jobId: job.jobId,
      detail: {
        workflowId: job.workflowId,
        runId: job.runId,
        status: job.status,
        since: job.since.toISOString(),
        minutes: job.minutes,
        orderId: job.orderId,
      },
    });
    if (raised) alerted.push(job.workflowId);
  }
  const failures = await countRecentFailures(db, now);
  let failureRateAlerted = false;
  if (failures.length > failureThreshold) {
    const hour = now.toISOString().slice(0, 13);
    failureRateAlerted = await raiseAlert(db, sinks, {
      key: `failure-rate:${hour}`,
      kind: 'fulfillment.failure_rate',
      severity: 'critical',
      summary: `${failures.length} fulfillments failed (needs_attention) within the last hour (threshold ${failureThreshold})`,
      detail: { failures: failures.length, threshold: failureThreshold, jobIds: failures, hour },
    });
  }
  return { stuck, alerted, failuresLastHour: failures.length, failureRateAlerted };
}
