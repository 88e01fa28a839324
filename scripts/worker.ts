// `npm run worker`: the Temporal worker alone (scale it out; Temporal and Postgres hold state).
import { connectDatabase } from '../db/connect.ts';
import { installTemporalRuntime } from '../worker/runtime.ts';
import { temporalTargetFromConfig } from '../temporal/data-converter.ts';
import { createFulfillmentWorker } from '../worker/worker.ts';
import { startWorkerOperations } from '../worker/operations.ts';
import { temporalMetricsBindAddress } from '../worker/metrics-server.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv, onShutdownSignal } from './lib/runtime.ts';
import { createActivityDeps } from './lib/worker-deps.ts';

loadDotEnv();
const config = loadConfigOrExit();
installTemporalRuntime('WARN', temporalMetricsBindAddress(config));
const db = await connectDatabase(databaseTarget(config, false));
const graceMs = config.SHUTDOWN_GRACE_SECONDS * 1000;
const { worker, connection } = await createFulfillmentWorker({
  ...temporalTargetFromConfig(config),
  shutdownGraceTimeMs: graceMs,
  maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
  deps: createActivityDeps(config, db),
  ...(process.env['WORKFLOW_BUNDLE_PATH']
    ? { workflowBundlePath: process.env['WORKFLOW_BUNDLE_PATH'] }
    : {}),
});
// The ops-reconcile-daily schedule, the stuck scan (a periodic job) and the worker's /metrics.
const operations = await startWorkerOperations(config, db, temporalTargetFromConfig(config));
const running = worker.run().finally(async () => {
  await operations.close();
  await connection.close();
  await db.destroy();
});
// SIGTERM: stop polling, let in-flight activities finish (up to the grace; Temporal retries
// any cut off on another worker), close, exit 0.
onShutdownSignal(
  async () => {
    worker.shutdown();
    await running;
  },
  { forceExitAfterMs: graceMs + 10_000 },
);
await running;
