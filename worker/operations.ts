import type { Config } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import { alertOutboxSinks, alertSinksFromConfig } from '../drivers/alert-sinks.ts';
import { analyticsOutboxSinks } from '../drivers/analytics/index.ts';
import { runOperationsScan, STUCK_SCAN_INTERVAL_SECONDS } from '../support/stuck.ts';
import { lazyTemporalClient, taskQueueOf, type TemporalTarget } from '../temporal/client.ts';
import { jsonLineLog } from '../temporal/connection-check.ts';
import { operationsSchedules, reconcileSchedules } from '../temporal/schedules.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import {
  startWorkerMetricsServer,
  temporalMetricsBindAddress,
  type WorkerHealth,
} from './metrics-server.ts';
import { gatewayPeriodicJobs, type GatewayJobsConfig } from './gateway-jobs.ts';
import { startOutboxRelay, type OutboxRelay } from './outbox-relay.ts';
import { startPeriodicJobs, type PeriodicJobDefinition } from './periodic.ts';

/** The variables that configure the alert sinks (drivers/alert-sinks.ts). */
type AlertConfigKey =
  | 'ALERT_SLACK_WEBHOOK_URL'
  | 'ALERT_WEBHOOK_URL'
  | 'ALERT_PAGERDUTY_ROUTING_KEY'
  | 'ALERT_PAGERDUTY_URL'
  | 'ALERT_GITHUB_REPOSITORY'
  | 'ALERT_GITHUB_TOKEN'
  | 'ALERT_GITHUB_API_URL';

/**
 * How often the fleet checks the schedules (one worker per interval): creates a missing one,
 * deletes an obsolete one. Ten minutes: a schedule deleted by hand is back well before the
 * daily reconciliation's next run; changing a definition is the deploy step's job.
 */
const SCHEDULE_CHECK_SECONDS = 600;

/**
 * What a worker process runs besides the worker, none of it on the path to polling: its
 * /metrics, /healthz and /readyz on `WORKER_METRICS_PORT` (0: none), the fleet-wide periodic
 * jobs: the schedule check (`reconcileSchedules` in create-missing mode, on a client of its own
 * that connects when first used — a failed schedule call is logged and retried next turn, it
 * never keeps the worker from polling), the stuck scan, and the gateway's gap check, inbox
 * retention and rate-limit clean-up; and the outbox relay delivering analytics batches to the
 * ANALYTICS_SINK service (none for `table`) and alerts to their sinks. Starts before Temporal answers; `close` stops them.
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
    | AlertConfigKey
    | 'ANALYTICS_SINK'
    | 'SEGMENT_WRITE_KEY'
    | 'SEGMENT_API_URL'
  > &
    GatewayJobsConfig,
  db: Db,
  target: TemporalTarget,
  health?: WorkerHealth,
): Promise<{ metricsUrl: string | null; close(): Promise<void> }> {
  const client = lazyTemporalClient(target);
  const periodic = startPeriodicJobs(db, [
    {
      name: 'temporal-schedules',
      everySeconds: SCHEDULE_CHECK_SECONDS,
      async run() {
        const results = await reconcileSchedules(
          client,
          operationsSchedules({
            reconcileAutoHeal: config.RECONCILE_AUTO_HEAL,
            reconcileCron: config.RECONCILE_CRON,
            taskQueue: taskQueueOf(client),
          }),
          { mode: 'create-missing' },
        );
        for (const { scheduleId, outcome } of results) {
          if (outcome === 'differs')
            jsonLineLog('warn', 'schedule differs from this release; run the deploy step', {
              scheduleId,
              command: 'npm run ops -- schedules sync',
            });
          else if (outcome === 'created' || outcome === 'deleted')
            jsonLineLog('info', `schedule ${outcome}`, { scheduleId });
        }
      },
    },
    stuckScanJob(config, db, client, { taskQueue: taskQueueOf(client) }),
    ...gatewayPeriodicJobs(config, db),
  ]);
  const stopPeriodic = async () => {
    await periodic.stop();
    await client.connection.close();
  };
  const analyticsRelay = startAnalyticsExport(config, db);
  const stopBackground = async () => {
    await analyticsRelay.stop();
    await stopPeriodic();
  };
  if (config.WORKER_METRICS_PORT === 0) return { metricsUrl: null, close: stopBackground };
  const metrics = await startWorkerMetricsServer({
    db,
    host: config.WORKER_METRICS_HOST,
    port: config.WORKER_METRICS_PORT,
    temporalMetricsAddress: temporalMetricsBindAddress(config),
    ...(health ? { health } : {}),
  });
  return {
    metricsUrl: metrics.url,
    close: async () => {
      await metrics.close();
      await stopBackground();
    },
  };
}

/**
 * The stuck scan (support/stuck.ts) once per `STUCK_SCAN_INTERVAL_SECONDS` across the fleet:
 * a visibility list and two small queries, no Temporal action. It watches the fulfillments of
 * the given task queue (default `fulfillment`).
 */
export function stuckScanJob(
  config: Pick<Config, 'STUCK_THRESHOLD_MINUTES' | 'FAILURE_RATE_THRESHOLD' | AlertConfigKey>,
  db: Db,
  temporal: Parameters<typeof runOperationsScan>[0]['temporal'],
  { everySeconds = STUCK_SCAN_INTERVAL_SECONDS, taskQueue = FULFILLMENT_TASK_QUEUE } = {},
): PeriodicJobDefinition {
  return {
    name: 'stuck-scan',
    everySeconds,
    run: () =>
      runOperationsScan({
        db,
        temporal,
        sinks: alertSinksFromConfig(config),
        now: new Date(),
        thresholdMinutes: config.STUCK_THRESHOLD_MINUTES,
        failureThreshold: config.FAILURE_RATE_THRESHOLD,
        taskQueue,
      }),
  };
}

/**
 * Delivers what the api, the activities and the operators queued in the outbox, with retries
 * and backoff: analytics batches to the ANALYTICS_SINK service (nothing for the table sink) and
 * every alert event to each configured alert sink (Slack, webhook, PagerDuty, GitHub issues).
 * Stop it on shutdown.
 */
export function startAnalyticsExport(
  config: Pick<Config, 'ANALYTICS_SINK' | 'SEGMENT_WRITE_KEY' | 'SEGMENT_API_URL' | AlertConfigKey>,
  db: Db,
): OutboxRelay {
  return startOutboxRelay(db, {
    ...analyticsOutboxSinks(config),
    ...alertOutboxSinks(db, alertSinksFromConfig(config)),
  });
}
