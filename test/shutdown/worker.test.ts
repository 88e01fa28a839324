import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { getFreePort, spawnManaged, type ManagedProcess } from '../../stack/processes.ts';
import { recordStripeEvent, stripeTestId } from '../../stack/stripe-events.ts';
import { startTemporalDevServer, type DevServer } from '../../stack/temporal-dev-server.ts';
import { connectTemporalClient } from '../../temporal/client.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { fulfillmentWorkflowId, type FulfillmentInput } from '../../workflows/contracts.ts';
import type { fulfillmentWorkflow } from '../../workflows/fulfillment.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startSmtpSink, type ReceivedMail } from '../helpers/smtp-sink.ts';
import { startTestWorker, testConfig, testEnv } from '../helpers/stack.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';
import { fileTaskQueue } from '../helpers/file-resources.ts';

// `node scripts/worker.ts` as a platform runs it, on a Temporal server of this file's own (so
// no other test file's worker takes its tasks), stopped with SIGTERM while the receipt is
// mid-send: the SMTP server holds its answer to DATA until the test lets it go.

let devServer: DevServer;
let db: Db;
let sink: Awaited<ReturnType<typeof startSmtpSink>>;
let mailArrived!: (mail: ReceivedMail) => void;
let letMailThrough!: () => void;
const gate = {
  arrived: new Promise<ReceivedMail>((resolve) => (mailArrived = resolve)),
  open: new Promise<void>((resolve) => (letMailThrough = resolve)),
};
const spawned: ManagedProcess[] = [];

beforeAll(async () => {
  devServer = await startTemporalDevServer({ port: await getFreePort(), uiPort: null });
  db = await connectDatabase({ kind: 'postgres', url: testConfig().DATABASE_URL! });
  sink = await startSmtpSink({
    beforeAccept: async (mail) => {
      mailArrived(mail);
      await gate.open;
    },
  });
});
afterAll(async () => {
  letMailThrough?.();
  for (const worker of spawned) await worker.stop(2_000);
  await sink?.close();
  await db?.destroy();
  await devServer?.stop();
});

describe('worker shutdown on SIGTERM', () => {
  it('stops polling, lets the receipt in flight finish, exits 0 — and a new worker completes the run', async () => {
    const env = testEnv({
      TEMPORAL_ADDRESS: devServer.address,
      EMAIL_DRIVER: 'smtp',
      SMTP_URL: sink.url,
      SHUTDOWN_GRACE_SECONDS: '60',
      // Metrics on ports of this test's own, so a parallel worker cannot collide with them.
      WORKER_METRICS_PORT: '0',
      TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${await getFreePort()}`,
    });
    const worker = spawnManaged(process.execPath, ['scripts/worker.ts'], {
      env: {
        PATH: process.env['PATH'],
        ...env,
        WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
      },
    });
    spawned.push(worker);
    const exited = once(worker.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

    const config = testConfig(env);
    const temporal = await connectTemporalClient(temporalTargetFromConfig(config));
    try {
      const paymentIntentId = stripeTestId('pi');
      const buyer = `${paymentIntentId}@example.com`;
      const stripeEventId = await recordStripeEvent(
        db,
        paymentSucceeded({ paymentIntentId, email: buyer }),
      );
      const input: FulfillmentInput = {
        source: 'stripe',
        purchaseKey: paymentIntentId,
        paymentIntentId,
        stripeEventId,
      };
      await temporal.workflow.start<typeof fulfillmentWorkflow>('fulfillmentWorkflow', {
        taskQueue: fileTaskQueue,
        workflowId: fulfillmentWorkflowId(paymentIntentId),
        args: [input],
      });

      // The receipt is on the wire: the email activity is in flight.
      const mail = await Promise.race([
        gate.arrived,
        once(worker.child, 'exit').then(() => {
          throw new Error(`worker exited:\n${worker.recentOutput()}`);
        }),
      ]);
      expect(mail.to).toEqual([buyer]);

      worker.child.kill('SIGTERM');
      letMailThrough();
      const [code, signal] = await exited;
      expect({ code, signal, output: code === 0 ? '' : worker.recentOutput() }).toEqual({
        code: 0,
        signal: null,
        output: '',
      });

      // The send finished and was recorded before the worker left: one receipt, delivered.
      const afterShutdown = await purchaseRows(db, paymentIntentId);
      expect(afterShutdown.emails.map((email) => [email.kind, email.status])).toEqual([
        ['delivery', 'sent'],
      ]);

      // Nothing is lost: the steps the stopped worker never polled for run on the next worker.
      const next = await startTestWorker(temporalTargetFromConfig(config), config, db);
      try {
        await settledFulfillment(temporal, paymentIntentId);
      } finally {
        await next.stop();
      }
      const rows = await purchaseRows(db, paymentIntentId);
      expect(rows.jobs.map((job) => job.status)).toEqual(['completed']);
      expect(rows.emails.map((email) => email.kind)).toEqual(['delivery']);
      expect(sink.received.filter((received) => received.to.includes(buyer))).toHaveLength(1);
    } finally {
      await temporal.connection.close();
    }
  });
});
