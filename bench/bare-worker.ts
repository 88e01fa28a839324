// The benchmarks' baseline worker process: the bare workflows of bare-workflow.ts, on their
// own task queue, with the same runtime and defaults as `npm run worker` (no activities of
// ours, no database). Started by the benchmarks as
// `bare-worker.ts <temporal address> <task queue> <bundle path> [max cached workflows]`;
// TEMPORAL_METRICS_ADDRESS turns on the SDK's Prometheus exporter as it does for the worker,
// and PAYLOAD_ENCRYPTION_KEYS reads payloads as the benchmark's client writes them.
import { NativeConnection, Worker } from '@temporalio/worker';
import { parsePayloadKeys } from '../security/payload-codec.ts';
import { payloadDataConverter } from '../temporal/data-converter.ts';
import { installTemporalRuntime } from '../worker/runtime.ts';
import type { BareActivities } from './bare-workflow.ts';

const [address, taskQueue, codePath, maxCached] = process.argv.slice(2);
if (!address || !taskQueue || !codePath) {
  console.error(
    'usage: bare-worker.ts <temporal address> <task queue> <bundle path> [max cached workflows]',
  );
  process.exit(2);
}
installTemporalRuntime('WARN', process.env['TEMPORAL_METRICS_ADDRESS'] || undefined);
const keys = process.env['PAYLOAD_ENCRYPTION_KEYS'];
const dataConverter = keys ? payloadDataConverter(parsePayloadKeys(keys)) : undefined;
const activities: BareActivities = { noop: async () => {} };
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowBundle: { codePath },
  activities,
  ...(dataConverter ? { dataConverter } : {}),
  ...(maxCached ? { maxCachedWorkflows: Number(maxCached) } : {}),
});
process.once('SIGTERM', () => worker.shutdown());
try {
  await worker.run();
} finally {
  await connection.close();
}
