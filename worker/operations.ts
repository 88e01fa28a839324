import type { Config } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import { connectTemporalClient, type TemporalTarget } from '../temporal/client.ts';
import { ensureOperationsSchedules } from '../temporal/schedules.ts';
import { startWorkerMetricsServer, temporalMetricsBindAddress } from './metrics-server.ts';
import { analyticsOutboxSinks } from '../drivers/analytics/index.ts';
import { startOutboxRelay, type OutboxRelay } from './outbox-relay.ts';

/**
 * What a worker process runs besides the worker: the operations schedules (created or
 * updated once at start), its /metrics endpoint on `WORKER_METRICS_PORT` (0: none) and the
 * outbox relay delivering analytics batches to the ANALYTICS_SINK service (none for `table`).
 * `close` stops them.
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
    | 'ANALYTICS_SINK'
    | 'SEGMENT_WRITE_KEY'
    | 'SEGMENT_API_URL'
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
  const analyticsRelay = startAnalyticsExport(config, db);
  if (config.WORKER_METRICS_PORT === 0)
    return { metricsUrl: null, close: () => analyticsRelay.stop() };
  const metrics = await startWorkerMetricsServer({
    db,
    host: config.WORKER_METRICS_HOST,
    port: config.WORKER_METRICS_PORT,
    temporalMetricsAddress: temporalMetricsBindAddress(config),
  });
  return {
    metricsUrl: metrics.url,
    close: async () => {
      await analyticsRelay.stop();
      await metrics.close();
    },
  };
}

/**
 * Delivers the analytics batches the api and the activities queued in the outbox to the
 * ANALYTICS_SINK service, with retries (nothing to do for the table sink). Stop it on shutdown.
 */
export function startAnalyticsExport(
  config: Pick<Config, 'ANALYTICS_SINK' | 'SEGMENT_WRITE_KEY' | 'SEGMENT_API_URL'>,
  db: Db,
): OutboxRelay {
  return startOutboxRelay(db, analyticsOutboxSinks(config));
}
