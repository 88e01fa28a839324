import { createRequire } from 'node:module';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { ActivityDeps } from '../activities/index.ts';
import { createActivities } from '../activities/index.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import type { TemporalTarget } from './client.ts';

const require = createRequire(import.meta.url);

export interface FulfillmentWorkerOptions extends TemporalTarget {
  deps: ActivityDeps;
  /** A prebuilt bundle (`bundleWorkflowCode`); without it the worker bundles workflows/ at start. */
  workflowBundlePath?: string;
  taskQueue?: string;
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
