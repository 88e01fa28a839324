// `npm run worker`: the Temporal worker alone (scale it out; Temporal and Postgres hold state).
import { connectDatabase } from '../db/connect.ts';
import { installTemporalRuntime } from '../temporal/runtime.ts';
import { createFulfillmentWorker } from '../temporal/worker.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv, onShutdownSignal } from './lib/runtime.ts';
import { createActivityDeps } from './lib/services.ts';

loadDotEnv();
const config = loadConfigOrExit();
installTemporalRuntime();
const db = await connectDatabase(databaseTarget(config, false));
const { worker, connection } = await createFulfillmentWorker({
  address: config.TEMPORAL_ADDRESS,
  namespace: config.TEMPORAL_NAMESPACE,
  deps: createActivityDeps(config, db),
  ...(process.env['WORKFLOW_BUNDLE_PATH']
    ? { workflowBundlePath: process.env['WORKFLOW_BUNDLE_PATH'] }
    : {}),
});
onShutdownSignal(() => {
  worker.shutdown();
  return Promise.resolve();
});
try {
  await worker.run();
} finally {
  await connection.close();
  await db.destroy();
}
