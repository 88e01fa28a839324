import { installTemporalRuntime } from '../worker/runtime.ts';
import { createFulfillmentWorker, type FulfillmentWorkerOptions } from '../worker/worker.ts';

export interface InProcessWorker {
  /** Drains the worker and closes its connection; rejects with the error it stopped on, if any. */
  stop(): Promise<void>;
}

/**
 * The fulfillment worker running inside this process (as `npm start` runs it), for the tests
 * and the benchmarks that drive the api and the worker from one process.
 */
export async function startInProcessWorker(
  options: FulfillmentWorkerOptions,
): Promise<InProcessWorker> {
  installTemporalRuntime();
  const { worker, connection } = await createFulfillmentWorker(options);
  let failure: Error | null = null;
  const running = worker.run().catch((error: unknown) => {
    failure = error instanceof Error ? error : new Error(String(error));
    console.error('the in-process worker stopped:', error);
  });
  return {
    async stop() {
      if (failure === null) worker.shutdown();
      await running;
      await connection.close();
      if (failure !== null) throw failure;
    },
  };
}
