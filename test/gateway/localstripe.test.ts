import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeClient } from '../../drivers/stripe.ts';
import { createLocalStorage } from '../../drivers/storage/driver.ts';
import { productStoragePath, upsertProducts } from '../../db/queries/products.ts';
import { checkStripeEventGaps } from '../../gateway/gap-check.ts';
import { startLocalstripe, type Localstripe } from '../../stack/localstripe.ts';
import { getFreePort, waitFor } from '../../stack/processes.ts';
import { fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { payInLocalstripe, paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

const run = promisify(execFile);

let stack: TestStack;
let stripe: ReturnType<typeof createStripeClient>;
let emulator: Localstripe | undefined;
const startedAt = new Date(Date.now() - 60_000);

beforeAll(async () => {
  // An emulator of this file's own: the gap check re-drives every event it lists, and must
  // not re-drive another test file's payments and refunds into the shared database.
  emulator = await startLocalstripe({ port: await getFreePort(), fromScratch: true });
  stack = await startTestStack({ env: { STRIPE_API_URL: emulator.url } });
  stripe = createStripeClient(stack.config.STRIPE_SECRET_KEY, stack.config.STRIPE_API_URL);
});
afterAll(async () => {
  await stack?.close();
  await emulator?.stop();
});

async function waitForFulfillment(paymentIntentId: string): Promise<void> {
  await waitFor(
    'event recorded',
    async () => {
      const row = await stack.db
        .selectFrom('webhook_events')
        .select('dispatched_at')
        .where('workflow_id', '=', fulfillmentWorkflowId(paymentIntentId))
        .executeTakeFirst();
      return Boolean(row?.dispatched_at);
    },
    { timeoutMs: 20_000 },
  );
  await settledFulfillment(stack.temporal, paymentIntentId);
}

const ops = (...args: string[]) =>
  run(process.execPath, ['scripts/ops.ts', ...args, '--json'], {
    env: {
      PATH: process.env['PATH'],
      DATABASE_URL: stack.config.DATABASE_URL,
      TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE,
      STRIPE_SECRET_KEY: stack.config.STRIPE_SECRET_KEY,
      STRIPE_API_URL: stack.config.STRIPE_API_URL,
      STRIPE_WEBHOOK_SECRETS: stack.config.STRIPE_WEBHOOK_SECRETS.join(','),
      USER: 'support-alice',
    },
  });

describe('against localstripe', () => {
  it('re-drives a payment whose webhook never arrived when the gap check compares with Stripe’s Events API', async () => {
    const email = `gap-${Date.now()}@example.com`;
    const paymentIntentId = await payInLocalstripe(stripe, {
      email,
      skus: 'ebook-idempotency-field-guide',
    });

    const first = await checkStripeEventGaps(
      { db: stack.db, temporal: stack.temporal, stripe },
      { since: startedAt },
    );
    expect(first.redriven.length).toBeGreaterThanOrEqual(1);
    await waitForFulfillment(paymentIntentId);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.emails).toMatchObject([{ kind: 'delivery', recipient: email }]);
    const audit = await stack.db
      .selectFrom('audit_log')
      .select(['actor', 'action'])
      .where('action', '=', 'webhook.gap_redriven')
      .execute();
    expect(audit.length).toBeGreaterThanOrEqual(1);

    const second = await checkStripeEventGaps(
      { db: stack.db, temporal: stack.temporal, stripe },
      { since: startedAt },
    );
    expect(second.redriven).toEqual([]);
    // The runbook's command (`npm run ops -- events gap-check`) finds nothing left to re-drive.
    const [cli] = JSON.parse((await ops('events', 'gap-check', '--hours', '1')).stdout) as {
      checked: number;
      redriven: string;
    }[];
    expect(cli!.checked).toBeGreaterThanOrEqual(1);
    expect(cli!.redriven).toBe('');
  });

  it('fulfils a real signed payment_intent.succeeded that localstripe posts to the webhook endpoint', async () => {
    const address = await stack.app.listen({ host: '127.0.0.1', port: 0 });
    const registration = await fetch(`${emulator!.url}/_config/webhooks/fulfillment-tests`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        url: `${address}/webhooks/stripe`,
        secret: stack.webhookSecret,
      }),
    });
    expect(registration.status).toBe(200);

    const email = `webhook-${Date.now()}@example.com`;
    const paymentIntentId = await payInLocalstripe(stripe, {
      email,
      skus: 'ebook-durable-execution,course-webhooks-workbook',
    });
    await waitForFulfillment(paymentIntentId);

    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.orders).toMatchObject([{ amount_total: 1900, currency: 'eur' }]);
    expect(rows.entitlements).toHaveLength(2);
    expect(rows.emails).toMatchObject([{ kind: 'delivery', recipient: email }]);
    const [inbox] = await stack.db
      .selectFrom('webhook_events')
      .selectAll()
      .where('workflow_id', '=', fulfillmentWorkflowId(paymentIntentId))
      .execute();
    expect(inbox).toMatchObject({ api_version: '2017-08-15', result: 'processed' });
  });
});

describe('npm run ops -- events', () => {
  it('lists recorded events and replays a failed fulfillment once the catalog is fixed', async () => {
    const sku = `ebook-late-${Date.now()}`;
    const event = paymentSucceeded({ skus: [sku] });
    const paymentIntentId = event.data.object.id;
    await postSignedEvent(stack.app, event, stack.webhookSecret);
    await expect(
      stack.temporal.workflow.getHandle(fulfillmentWorkflowId(paymentIntentId)).result(),
    ).rejects.toThrow();

    const listed = JSON.parse(
      (await ops('events', 'list', '--type', 'payment_intent.succeeded', '--limit', '500')).stdout,
    ) as { event_id: string }[];
    expect(listed.map((e) => e.event_id)).toContain(event.id);
    // The gateway handed it over fine; the purchase failed downstream, and the list says so.
    const failed = JSON.parse(
      (await ops('events', 'list', '--status', 'failed', '--limit', '500')).stdout,
    ) as { event_id: string; result: string; outcome: string }[];
    expect(failed.find((e) => e.event_id === event.id)).toMatchObject({
      result: 'processed',
      outcome: 'needs_attention',
    });

    const plan = JSON.parse((await ops('events', 'replay', event.id, '--dry-run')).stdout) as {
      change: string;
    }[];
    expect(plan).toMatchObject([
      { workflowStatus: 'FAILED', change: 'start a new run (the last one is failed)' },
    ]);
    const waiting = await purchaseRows(stack.db, paymentIntentId);
    expect(waiting.jobs).toMatchObject([{ status: 'needs_attention' }]);
    expect(waiting.entitlements).toHaveLength(0);
    const alerts = await stack.db
      .selectFrom('alerts')
      .select(['kind', 'job_id'])
      .where('job_id', '=', waiting.jobs[0]!.id)
      .execute();
    expect(alerts).toEqual([{ kind: 'fulfillment.needs_attention', job_id: waiting.jobs[0]!.id }]);

    const late = { slug: sku, version: 'v1' };
    await createLocalStorage(stack.config.STORAGE_LOCAL_DIR).put(
      productStoragePath(late, 'pdf'),
      new Uint8Array([37, 80, 68, 70]),
    );
    await createLocalStorage(stack.config.STORAGE_LOCAL_DIR).put(
      productStoragePath({ slug: sku, version: 'v1' }, 'pdf'),
      new TextEncoder().encode('%PDF-1.4 late arrival'),
    );
    await upsertProducts(stack.db, [
      {
        sku,
        slug: sku,
        title: 'Late Arrival',
        version: 'v1',
        formats: ['pdf'],
        stripe_price_id: null,
      },
    ]);
    await ops('events', 'replay', event.id);
    await waitFor(
      'replayed run completed',
      async () => {
        const rows = await purchaseRows(stack.db, paymentIntentId);
        return rows.jobs[0]?.status === 'completed';
      },
      { timeoutMs: 30_000 },
    );
    const audit = await stack.db
      .selectFrom('audit_log')
      .select(['actor', 'action'])
      .where('target', '=', event.id)
      .execute();
    expect(audit).toContainEqual({ actor: 'support-alice', action: 'webhook.replayed' });
    const fulfilled = JSON.parse(
      (await ops('events', 'list', '--status', 'fulfilled', '--limit', '500')).stdout,
    ) as { event_id: string; outcome: string }[];
    expect(fulfilled.find((e) => e.event_id === event.id)).toMatchObject({ outcome: 'fulfilled' });

    const again = JSON.parse((await ops('events', 'replay', event.id, '--dry-run')).stdout) as {
      change: string;
    }[];
    expect(again).toMatchObject([{ change: 'none: the workflow is running' }]);
  });
});
