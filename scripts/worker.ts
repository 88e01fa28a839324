// `npm run worker`: the Temporal worker alone (scale it out; Temporal and Postgres hold state).
// Start-up order: configuration, database pool, /metrics + /healthz + /readyz and the periodic
// jobs, then Temporal — waited for with backoff, each wait logged with the address and the
// reason — then polling. A server that refuses the configuration (API key, certificate,
// namespace) stops the process with the setting to fix.
import { connectDatabase } from '../db/connect.ts';
import { startTracing } from '../observability/tracing.ts';
import { installTemporalRuntime } from '../worker/runtime.ts';
import { temporalTargetFromConfig } from '../temporal/data-converter.ts';
import { monitorTemporal, TemporalConnectionRefused } from '../temporal/connection-check.ts';
import { connectWorkerToTemporal, createFulfillmentWorker } from '../worker/worker.ts';
import { startWorkerOperations } from '../worker/operations.ts';
import { temporalMetricsBindAddress, WorkerHealth } from '../worker/metrics-server.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv, onShutdownSignal } from './lib/runtime.ts';
import { createActivityDeps } from './lib/worker-deps.ts';

loadDotEnv();
const config = loadConfigOrExit();
// Before the worker: its workflow span sink exports through this (OTEL_TRACES_EXPORTER).
const tracing = startTracing({
  exporter: config.OTEL_TRACES_EXPORTER,
  serviceName: 'fulfillment-worker',
});
installTemporalRuntime('WARN', temporalMetricsBindAddress(config));
const db = await connectDatabase(databaseTarget(config, false));
const graceMs = config.SHUTDOWN_GRACE_SECONDS * 1000;
const target = temporalTargetFromConfig(config);
const health = new WorkerHealth(target);
const operations = await startWorkerOperations(config, db, target, health);

const waiting = new AbortController();
// Until the worker runs, stopping means: stop waiting, close what is open.
let stop = async (): Promise<void> => {
  waiting.abort();
  await operations.close();
  await db.destroy();
  await tracing.shutdown();
};
// SIGTERM: stop polling, let in-flight activities finish (up to the grace; Temporal retries
// any cut off on another worker), close, exit 0.
onShutdownSignal(() => stop(), { forceExitAfterMs: graceMs + 10_000 });

async function run(): Promise<void> {
  let connection;
  try {
    connection = await connectWorkerToTemporal(target, {
      signal: waiting.signal,
      onWait: (problem) => health.waiting(problem),
    });
  } catch (error) {
    if (waiting.signal.aborted) return;
    if (error instanceof TemporalConnectionRefused) {
      console.error(`Cannot connect to Temporal: ${error.message}`);
      await operations.close();
      await db.destroy();
      await tracing.shutdown();
      process.exit(1);
    }
    throw error;
  }
  const { worker } = await createFulfillmentWorker({
    ...target,
    connection,
    shutdownGraceTimeMs: graceMs,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    deps: createActivityDeps(config, db),
    ...(config.WORKFLOW_BUNDLE_PATH ? { workflowBundlePath: config.WORKFLOW_BUNDLE_PATH } : {}),
  });
  const monitor = monitorTemporal(
    () => connection.workflowService.describeNamespace({ namespace: target.namespace }),
    target,
  );
  const running = worker.run().finally(async () => {
    monitor.stop();
    await operations.close();
    await connection.close();
    await db.destroy();
    await tracing.shutdown();
  });
  health.polling(monitor);
  stop = async () => {
    health.draining();
    worker.shutdown();
    await running;
  };
  await running;
}

await run();
