// The gateway with many replicas, as deployed: two api processes and two worker processes
// (`scripts/api.ts`, `scripts/worker.ts`) on one Temporal dev server and one database. Every
// purchase is delivered three times across both apis — two copies at once — and one api is
// killed with SIGKILL mid-run and started again. Each purchase must end in exactly one
// workflow run, one order, one entitlement and one email, and no inbox row may be left
// undispatched. REPLICA_TEST_PURCHASES sets how many purchases (40 by default).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Cleanups } from '../../stack/cleanups.ts';
import { DEMO_SKU } from '../../stack/demo-catalog.ts';
import {
  deployedProcessEnv,
  spawnRepoScript,
  startLocalComponents,
  waitForPoller,
  type LocalComponents,
} from '../../stack/deployed-stack.ts';
import { mapLimit, postWebhook } from '../../stack/load.ts';
import { getFreePort, killHard, waitFor, type ManagedProcess } from '../../stack/processes.ts';
import { buildPaymentIntentSucceededEvent, signStripePayload } from '../../stack/stripe-events.ts';
import { FULFILLMENT_TASK_QUEUE, fulfillmentWorkflowId } from '../../workflows/contracts.ts';

const PURCHASES = Number(process.env['REPLICA_TEST_PURCHASES'] ?? 40);
const secret = `whsec_${randomBytes(16).toString('hex')}`;

const cleanups = new Cleanups('replica test');
let components: LocalComponents;
let env: NodeJS.ProcessEnv;
const apis: { port: number; url: string; process: ManagedProcess }[] = [];

async function startApi(port: number): Promise<ManagedProcess> {
  const api = spawnRepoScript('scripts/api.ts', [], {
    cwd: components.dir,
    env: { ...env, PORT: String(port) },
  });
  cleanups.add(`api ${port}`, () => api.stop());
  await waitFor(
    `api on ${port}`,
    async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
    {
      abort: () => api.exitReason(),
    },
  );
  return api;
}

async function startWorker(): Promise<ManagedProcess> {
  const worker = spawnRepoScript('scripts/worker.ts', [], {
    cwd: components.dir,
    // The SDK's metrics exporter cannot be turned off by env; a free port keeps it apart.
    env: { ...env, TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${await getFreePort()}` },
  });
  cleanups.add('worker', () => worker.stop());
  await waitForPoller(components.temporal, FULFILLMENT_TASK_QUEUE, worker.child.pid!, {
    abort: () => worker.exitReason(),
  });
  return worker;
}

beforeAll(async () => {
  components = await startLocalComponents(cleanups, { name: 'replicas' });
  env = {
    ...deployedProcessEnv({
      databaseUrl: components.databaseUrl,
      temporalAddress: components.devServer.address,
      payloadKeys: components.payloadKeys,
      storageDir: components.storageDir,
      webhookSecrets: [secret],
      workflowBundlePath: inject('workflowBundlePath'),
    }),
    // The killed api's leases run out soon, and the relays poll often: the test stays short.
    WEBHOOK_DISPATCH_LEASE_SECONDS: '6',
    WEBHOOK_RELAY_INTERVAL_SECONDS: '0.5',
  };
  for (const port of [await getFreePort(), await getFreePort()]) {
    apis.push({ port, url: `http://127.0.0.1:${port}`, process: await startApi(port) });
  }
  await Promise.all([startWorker(), startWorker()]);
}, 180_000);

afterAll(async () => {
  await cleanups.runAll();
});

/**
 * Delivers `payload` as Stripe does: a fresh signature each time, retried (on the other api,
 * as a load balancer would send it) until it is acknowledged with a 2xx.
 */
async function deliver(payload: string, firstApi: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const api = apis[(firstApi + attempt) % apis.length]!;
    const status = await postWebhook(api.url, payload, signStripePayload(payload, secret));
    if (status !== null && status >= 200 && status < 300) return attempt;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('a delivery was never acknowledged');
}

describe('two apis and two workers on one database', () => {
  it('fulfils each purchase exactly once through redeliveries and an api killed mid-run', async () => {
    const purchases = Array.from({ length: PURCHASES }, (_, index) =>
      buildPaymentIntentSucceededEvent({
        skus: [DEMO_SKU],
        email: `replica-${index}-${randomBytes(3).toString('hex')}@example.com`,
      }),
    );
    let sent = 0;
    const kill: { done: Promise<void> | null } = { done: null };
    const retries = await mapLimit(purchases, 8, async (event, index) => {
      const payload = JSON.stringify(event);
      // Two copies at once on both apis, then a third one later.
      const copies = await Promise.all([deliver(payload, index % 2), deliver(payload, index + 1)]);
      sent += 1;
      if (sent === Math.ceil(PURCHASES / 3) && !kill.done) {
        kill.done = (async () => {
          await killHard(apis[0]!.process);
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          apis[0]!.process = await startApi(apis[0]!.port);
        })();
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      return [...copies, await deliver(payload, index)];
    });
    expect(kill.done).not.toBeNull();
    await kill.done;

    const { db, temporal } = components;
    const eventIds = purchases.map((event) => event.id);
    await waitFor(
      'every recorded event dispatched',
      async () =>
        (
          await db
            .selectFrom('webhook_events')
            .select('event_id')
            .where('event_id', 'in', eventIds)
            .where('result', 'is', null)
            .execute()
        ).length === 0,
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const purchaseKeys = purchases.map((event) => event.data.object.id);
    const emailsSent = async () =>
      db
        .selectFrom('email_deliveries')
        .innerJoin('orders', 'orders.id', 'email_deliveries.order_id')
        .select(['orders.purchase_key', 'email_deliveries.kind'])
        .where('orders.purchase_key', 'in', purchaseKeys)
        .where('email_deliveries.kind', '=', 'delivery')
        .execute();
    await waitFor('every purchase emailed', async () => (await emailsSent()).length >= PURCHASES, {
      timeoutMs: 180_000,
      intervalMs: 1_000,
    });

    const inbox = await db
      .selectFrom('webhook_events')
      .select(['event_id', 'result', 'deliveries', 'dispatched_by'])
      .where('event_id', 'in', eventIds)
      .execute();
    expect(inbox).toHaveLength(PURCHASES);
    expect(inbox.filter((row) => row.result !== 'processed')).toEqual([]);
    // Three acknowledged deliveries each (a copy cut off by the kill may count a fourth).
    expect(inbox.filter((row) => row.deliveries < 3)).toEqual([]);

    // Exactly one workflow run per purchase, as Temporal recorded them.
    const runs = new Map<string, number>();
    for await (const execution of temporal.workflow.list({
      query: `WorkflowType = 'fulfillmentWorkflow'`,
    })) {
      runs.set(execution.workflowId, (runs.get(execution.workflowId) ?? 0) + 1);
    }
    for (const key of purchaseKeys) expect(runs.get(fulfillmentWorkflowId(key)), key).toBe(1);
    for (const key of purchaseKeys.slice(0, 5)) {
      const history = await temporal.workflow.getHandle(fulfillmentWorkflowId(key)).fetchHistory();
      expect(
        history.events?.filter((event) => event.workflowExecutionStartedEventAttributes),
      ).toHaveLength(1);
    }

    const orders = await db
      .selectFrom('orders')
      .select(['id', 'purchase_key'])
      .where('purchase_key', 'in', purchaseKeys)
      .execute();
    expect(orders).toHaveLength(PURCHASES);
    const entitlements = await db
      .selectFrom('entitlements')
      .select('order_id')
      .where(
        'order_id',
        'in',
        orders.map((order) => order.id),
      )
      .execute();
    expect(entitlements).toHaveLength(PURCHASES);
    const emails = await emailsSent();
    expect(new Set(emails.map((email) => email.purchase_key)).size).toBe(PURCHASES);
    expect(emails).toHaveLength(PURCHASES);
    console.log(
      `replicas: ${PURCHASES} purchases, ${retries.flat().filter((r) => r > 0).length} deliveries retried on the other api, ` +
        `${inbox.filter((row) => row.dispatched_by === 'relay').length} dispatched by a relay`,
    );
  }, 420_000);
});
