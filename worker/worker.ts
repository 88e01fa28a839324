import { createRequire } from 'node:module';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { ActivityDeps } from '../activities/index.ts';
import { createActivities } from '../activities/index.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import { connectionOptions, type TemporalTarget } from '../temporal/client.ts';
import {
  waitForTemporal,
  type ConnectionLog,
  type TemporalProblem,
} from '../temporal/connection-check.ts';
import { tracingWorkerOptions, workflowInterceptorModules } from './tracing.ts';

const require = createRequire(import.meta.url);

export interface FulfillmentWorkerOptions extends TemporalTarget {
  deps: ActivityDeps;
  /**
   * A connection made beforehand (`connectWorkerToTemporal`, which waits for Temporal); the
   * worker then owns it. Without it the worker connects once and fails if Temporal is away.
   */
  connection?: NativeConnection;
  /** A prebuilt bundle (`bundleWorkflowCode`); without it the worker bundles workflows/ at start. */
  workflowBundlePath?: string;
  /**
   * How long `worker.shutdown()` lets in-flight activities finish before cancelling them
   * (SHUTDOWN_GRACE_SECONDS); the SDK default is 0, which cancels them at once.
   */
  shutdownGraceTimeMs?: number;
  /** WORKER_MAX_CACHED_WORKFLOWS; the SDK's heap-based default when absent. */
  maxCachedWorkflows?: number;
}

/** The path the worker (and the bundler) loads workflows from. */
export const workflowsPath = require.resolve('../workflows/index.ts');

/**
 * Creates the fulfillment worker on its own connection. Run it with `worker.run()`; stop it
 * with `worker.shutdown()`, then close `connection`.
 */
export async function createFulfillmentWorker(
  options: FulfillmentWorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection =
    options.connection ?? (await NativeConnection.connect(connectionOptions(options)));
  // Workflows and activities continue the trace of whoever started them (worker/tracing.ts).
  const tracing = tracingWorkerOptions();
  try {
    const worker = await Worker.create({
      connection,
      namespace: options.namespace,
      taskQueue: options.taskQueue ?? FULFILLMENT_TASK_QUEUE,
      ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
      ...(options.shutdownGraceTimeMs !== undefined
        ? {
            shutdownGraceTime: options.shutdownGraceTimeMs,
            // Activities that ignore cancellation get 5 s more, then run() rejects: the
            // process exits and Temporal retries their attempt elsewhere after its timeout.
            shutdownForceTime: options.shutdownGraceTimeMs + 5_000,
          }
        : {}),
      ...(options.maxCachedWorkflows !== undefined
        ? { maxCachedWorkflows: options.maxCachedWorkflows }
        : {}),
      activities: createActivities(options.deps),
      sinks: tracing.sinks,
      ...(options.workflowBundlePath
        ? {
            // The prebuilt bundle carries the workflow interceptors (scripts/build-workflow-bundle.ts).
            interceptors: tracing.interceptors,
            workflowBundle: { codePath: options.workflowBundlePath },
          }
        : {
            interceptors: { ...tracing.interceptors, workflowModules: workflowInterceptorModules },
            workflowsPath,
          }),
    });
    return { worker, connection };
  } catch (error) {
    await connection.close();
    throw error;
  }
}

/**
 * The worker's connection, once Temporal answers for the namespace: while it does not, waits
 * with backoff (1 s up to 30 s) and logs each wait with the address and the reason; a server
 * that refuses the configuration (API key, certificate, namespace) ends the wait at once with
 * `TemporalConnectionRefused`, whose message names the setting.
 */
export async function connectWorkerToTemporal(
  target: TemporalTarget,
  options: {
    log?: ConnectionLog;
    signal?: AbortSignal;
    onWait?: (problem: TemporalProblem) => void;
  } = {},
): Promise<NativeConnection> {
  return waitForTemporal(
    async () => {
      const connection = await NativeConnection.connect(connectionOptions(target));
      try {
        await connection.workflowService.describeNamespace({ namespace: target.namespace });
        return connection;
      } catch (error) {
        await connection.close();
        throw error;
      }
    },
    target,
    options,
  );
}
