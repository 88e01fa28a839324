// The "database steps as no-ops" ablation: a worker process running the real fulfillment
// workflow (the prebuilt bundle) whose activities do nothing and answer what a healthy purchase
// would. What the fulfillment costs beyond this is the activities' own work — PostgreSQL,
// storage, rendering. Started by the fulfillment benchmark as
// `noop-fulfillment-worker.ts <temporal address> <task queue> <bundle path> <http port>`; it
// answers `GET /delivered` with `{ <workflow id>: <epoch ms> }` for the receipts "sent" since
// the last call, so the benchmark can time them without a database.
import http from 'node:http';
import { Context } from '@temporalio/activity';
import { NativeConnection, Worker } from '@temporalio/worker';
import { parsePayloadKeys } from '../security/payload-codec.ts';
import { payloadDataConverter } from '../temporal/data-converter.ts';
import { installTemporalRuntime } from '../worker/runtime.ts';
import { tracingWorkerOptions } from '../worker/tracing.ts';
import type {
  ActivatedEntitlements,
  FulfillmentInput,
  FulfillmentStatus,
  RecordedPurchase,
} from '../workflows/contracts.ts';

const [address, taskQueue, codePath, port] = process.argv.slice(2);
if (!address || !taskQueue || !codePath || !port) {
  console.error(
    'usage: noop-fulfillment-worker.ts <temporal address> <task queue> <bundle path> <http port>',
  );
  process.exit(2);
}
installTemporalRuntime('WARN', process.env['TEMPORAL_METRICS_ADDRESS'] || undefined);
const keys = process.env['PAYLOAD_ENCRYPTION_KEYS'];
const dataConverter = keys ? payloadDataConverter(parsePayloadKeys(keys)) : undefined;

let delivered: Record<string, number> = {};
const activities = {
  async recordPurchase(input: FulfillmentInput): Promise<RecordedPurchase> {
    return {
      jobId: `noop-${input.purchaseKey}`,
      orderId: `noop-${input.purchaseKey}`,
      purchaseKey: input.purchaseKey,
      assets: [],
      customerEmailSearchValue: 'hmac1_noop',
      guest: true,
      status: 'pending_storage',
      unknownItems: [],
    };
  },
  async activateStoredEntitlements(): Promise<ActivatedEntitlements> {
    return { status: 'pending_email', entitlementStatus: 'pending_claim' };
  },
  async deliverOrder(): Promise<FulfillmentStatus> {
    const workflowId = Context.current().info.workflowExecution?.workflowId;
    if (workflowId) delivered[workflowId] = Date.now();
    return 'completed';
  },
  async sendReminders(): Promise<string[]> {
    return [];
  },
};

const server = http.createServer((request, response) => {
  if (request.url !== '/delivered') return void response.writeHead(404).end();
  const body = JSON.stringify(delivered);
  delivered = {};
  response.writeHead(200, { 'content-type': 'application/json' }).end(body);
});
await new Promise<void>((resolve) => server.listen(Number(port), '127.0.0.1', resolve));

const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowBundle: { codePath },
  activities,
  ...(dataConverter ? { dataConverter } : {}),
  // As the real worker: the bundle's tracing interceptors, their sink (a no-op, tracing off).
  ...tracingWorkerOptions(),
});
process.once('SIGTERM', () => worker.shutdown());
try {
  await worker.run();
} finally {
  server.close();
  await connection.close();
}
