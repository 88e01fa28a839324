import type { Config } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import { runOperationsScan, STUCK_SCAN_INTERVAL_SECONDS } from '../support/stuck.ts';
import { connectTemporalClient, type TemporalTarget } from '../temporal/client.ts';
import { ensureOperationsSchedules } from '../temporal/schedules.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import { startWorkerMetricsServer, temporalMetricsBindAddress } from './metrics-server.ts';
import { gatewayPeriodicJobs, type GatewayJobsConfig } from './gateway-jobs.ts';
import { startPeriodicJobs, type PeriodicJobDefinition } from './periodic.ts';

/**
 * What a worker process runs besides the worker: the daily reconciliation schedule (created or
 * updated once at start; obsolete schedules deleted), the fleet-wide periodic jobs (the stuck
 * scan; the gateway's gap check, inbox retention and rate-limit counters) and its /metrics
 * endpoint on `WORKER_METRICS_PORT` (0: none). `close` stops them.
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
    | 'ALERT_SLACK_WEBHOOK_URL'
    | 'ALERT_WEBHOOK_URL'
  > &
    GatewayJobsConfig,
  db: Db,
  target: TemporalTarget,
): Promise<{ metricsUrl: string | null; close(): Promise<void> }> {
  const client = await connectTemporalClient(target);
  try {
    await ensureOperationsSchedules(client, {
      reconcileAutoHeal: config.RECONCILE_AUTO_HEAL,
      reconcileCron: config.RECONCILE_CRON,
    });
  } catch (error) {
    await client.connection.close();
    throw error;
  }
  const periodic = startPeriodicJobs(db, [
    stuckScanJob(config, db, client),
    ...gatewayPeriodicJobs(config, db),
  ]);
  const closeOperations = async (): Promise<void> => {
    await periodic.stop();
    await client.connection.close();
  };
  if (config.WORKER_METRICS_PORT === 0) return { metricsUrl: null, close: closeOperations };
  const metrics = await startWorkerMetricsServer({
    db,
    host: config.WORKER_METRICS_HOST,
    port: config.WORKER_METRICS_PORT,
    temporalMetricsAddress: temporalMetricsBindAddress(config),
  });
  return {
    metricsUrl: metrics.url,
    close: async () => {
      await metrics.close();
      await closeOperations();
    },
  };
}

/**
 * The stuck scan (support/stuck.ts) once per `STUCK_SCAN_INTERVAL_SECONDS` across the fleet:
 * a visibility list and two small queries, no Temporal action. It watches the fulfillments of
 * the `fulfillment` task queue.
 */
export function stuckScanJob(
  config: Pick<
    Config,
    | 'STUCK_THRESHOLD_MINUTES'
    | 'FAILURE_RATE_THRESHOLD'
    | 'ALERT_SLACK_WEBHOOK_URL'
    | 'ALERT_WEBHOOK_URL'
  >,
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
        sinks: {
          slackWebhookUrl: config.ALERT_SLACK_WEBHOOK_URL,
          webhookUrl: config.ALERT_WEBHOOK_URL,
        },
        now: new Date(),
        thresholdMinutes: config.STUCK_THRESHOLD_MINUTES,
        failureThreshold: config.FAILURE_RATE_THRESHOLD,
        taskQueue,
      }),
  };
}
