import type { Config } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import { connectTemporalClient, type TemporalTarget } from '../temporal/client.ts';
import { ensureOperationsSchedules } from '../temporal/schedules.ts';
import { gatewayPeriodicJobs, type GatewayJobsConfig } from './gateway-jobs.ts';
import { startWorkerMetricsServer, temporalMetricsBindAddress } from './metrics-server.ts';
import { startPeriodicJobs } from './periodic.ts';

/**
 * What a worker process runs besides the worker: the operations schedules (created or
 * updated once at start), the gateway's fleet-wide periodic jobs (gap check, inbox retention,
 * rate-limit counters) and its /metrics endpoint on `WORKER_METRICS_PORT` (0: none).
 * `close` stops the jobs and the endpoint.
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
  > &
    GatewayJobsConfig,
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
  const periodic = startPeriodicJobs(db, gatewayPeriodicJobs(config, db));
  if (config.WORKER_METRICS_PORT === 0) return { metricsUrl: null, close: () => periodic.stop() };
  const metrics = await startWorkerMetricsServer({
    db,
    host: config.WORKER_METRICS_HOST,
    port: config.WORKER_METRICS_PORT,
    temporalMetricsAddress: temporalMetricsBindAddress(config),
  });
  return {
    metricsUrl: metrics.url,
    close: async () => {
      await periodic.stop();
      await metrics.close();
    },
  };
}
