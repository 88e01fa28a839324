import { createRequire } from 'node:module';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { ActivityDeps } from '../activities/index.ts';
import { createActivities } from '../activities/index.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import type { TemporalTarget } from '../temporal/client.ts';

const require = createRequire(import.meta.url);

export interface FulfillmentWorkerOptions extends TemporalTarget {
  deps: ActivityDeps;
  /** A prebuilt bundle (`bundleWorkflowCode`); without it the worker bundles workflows/ at start. */
  workflowBundlePath?: string;
  taskQueue?: string;
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
  const connection = await NativeConnection.connect({ address: options.address });
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
      ...(options.workflowBundlePath
        ? { workflowBundle: { codePath: options.workflowBundlePath } }
        : { workflowsPath }),
    });
    return { worker, connection };
  } catch (error) {
    await connection.close();
    throw error;
  }
}
