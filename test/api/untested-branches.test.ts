import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStorage } from '../../scripts/lib/services.ts';
import { waitFor } from '../../stack/processes.ts';
import {
  buildPaymentFailedEvent,
  recordStripeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';
import { jsonOf, OPERATOR_TOKENS, operators, ops, purchase } from '../ops/support.ts';

let stack: TestStack;
let issuer: Awaited<ReturnType<typeof createTestIssuer>>;
let dir: string;
beforeAll(async () => {
  issuer = await createTestIssuer();
  stack = await startTestStack({
    env: { OPERATOR_TOKENS },
    app: { auth: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience } },
  });
  dir = await mkdtemp(path.join(os.tmpdir(), 'branches-'));
});
afterAll(async () => {
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the shelf’s in_progress view', () => {
  it('lists a signed-in purchase still being prepared, and only it', async () => {
    const suffix = randomBytes(4).toString('hex');
    const product = {
      sku: `ebook-pending-${suffix}`,
      slug: `pending-${suffix}`,
      title: 'Still Uploading',
      version: 'v1',
      formats: ['pdf'],
      stripe_price_id: `price_pending_${suffix}`,
    };
    const key = `ebooks/${product.slug}/v1/file.pdf`;
    await createStorage(stack.config).put(key, new TextEncoder().encode(key));
    const file = path.join(dir, `catalog-${suffix}.json`);
    await writeFile(file, JSON.stringify({ products: [product] }));
    const as = ['--operator', 'dana', '--reason', 'in_progress drill'];
    expect((await ops(['catalog', 'import', file, ...as])).code).toBe(0);
    // The file is not in storage (yet): the purchase waits at its storage step.
    await rm(path.join(stack.config.STORAGE_LOCAL_DIR, key));

    const userId = `auth0|${suffix}`;
    const jwt = await issuer.token({ sub: userId, email: `${suffix}@example.com` });
    const ready = stripeTestId('pi');
    await postSignedEvent(
      stack.app,
      paymentSucceeded({ paymentIntentId: ready, email: `${suffix}@example.com`, userId }),
      stack.webhookSecret,
    );
    const waiting = stripeTestId('pi');
    await postSignedEvent(
      stack.app,
      paymentSucceeded({
        paymentIntentId: waiting,
        email: `${suffix}@example.com`,
        userId,
        skus: [product.sku],
      }),
      stack.webhookSecret,
    );
    await waitFor(
      'the first purchase active, the second retrying its storage step',
      async () =>
        (await purchaseRows(stack.db, ready)).entitlements[0]?.status === 'active' &&
        (await purchaseRows(stack.db, waiting)).jobs[0]?.status === 'pending_retry',
      { timeoutMs: 30_000 },
    );
    const shelf = async (view: string) =>
      (
        await stack.app.inject({
          method: 'GET',
          url: `/v1/entitlements?view=${view}`,
          headers: { authorization: `Bearer ${jwt}` },
        })
      ).json<{ items: { title: string; status: string; downloadable: boolean }[] }>().items;
    expect(await shelf('in_progress')).toEqual([
      expect.objectContaining({
        title: 'Still Uploading',
        status: 'processing',
        downloadable: false,
      }),
    ]);
    expect((await shelf('all')).map((i) => i.status).sort()).toEqual(['active', 'processing']);
  });
});

describe('job search by order', () => {
  it('finds a purchase by its order id and by its purchase key, and nothing for another', async () => {
    const { paymentIntentId } = await purchase(stack);
    const orderId = (await purchaseRows(stack.db, paymentIntentId)).orders[0]!.id;
    const search = async (order: string) =>
      (
        await stack.app.inject({
          method: 'GET',
          url: `/admin/jobs?order=${encodeURIComponent(order)}`,
          headers: { authorization: `Bearer ${operators.support.token}` },
        })
      ).json<{ items: { orderId: string; paymentIntentId: string }[] }>().items;
    expect(await search(orderId)).toEqual([expect.objectContaining({ orderId, paymentIntentId })]);
    expect(await search(paymentIntentId)).toEqual([
      expect.objectContaining({ orderId, paymentIntentId }),
    ]);
    expect(await search('00000000-0000-4000-8000-000000000000')).toEqual([]);
    const cli = await ops(['jobs', 'search', '--order', orderId, '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ items: [{ paymentIntentId }] });
  });
});

describe('window replay (`events replay --since`)', () => {
  it('replays only the window’s events of the type asked, plans before it acts, audits each', async () => {
    // Events the gateway recorded while nothing dispatched them (Temporal away, seed 004's
    // "webhook downtime"): one before the window, two of it, and one of another type in it.
    const buyer = () => {
      const paymentIntentId = stripeTestId('pi');
      return { paymentIntentId, userId: `auth0|${paymentIntentId}` };
    };
    const before = buyer();
    await recordStripeEvent(stack.db, paymentSucceeded(before));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const since = new Date(Date.now() - 500).toISOString();
    const inWindow = [buyer(), buyer()];
    for (const purchase of inWindow) await recordStripeEvent(stack.db, paymentSucceeded(purchase));
    const failedPayment = buildPaymentFailedEvent({ skus: ['ebook-durable-execution'] });
    await recordStripeEvent(stack.db, failedPayment);
    const window = ['events', 'replay', '--since', since, '--type', 'payment_intent.succeeded'];

    const plan = jsonOf<{ eventId: string; workflowStatus: string; change: string }[]>(
      await ops([...window, '--dry-run', '--json']),
    );
    expect(plan.map((p) => p.workflowStatus)).toEqual(['none', 'none']);
    expect(plan.map((p) => p.change)).toEqual(['start the workflow', 'start the workflow']);
    // A dry run starts nothing and writes nothing.
    expect((await purchaseRows(stack.db, inWindow[0]!.paymentIntentId)).orders).toEqual([]);

    const as = ['--operator', 'dana', '--reason', 'webhook downtime 10:00-10:20'];
    const replayed = jsonOf<{ eventId: string }[]>(await ops([...window, ...as, '--json']));
    expect(replayed.map((p) => p.eventId).sort()).toEqual(plan.map((p) => p.eventId).sort());
    for (const { paymentIntentId } of inWindow) {
      await settledFulfillment(stack.temporal, paymentIntentId);
      const rows = await purchaseRows(stack.db, paymentIntentId);
      expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
      expect(rows.emails).toMatchObject([{ kind: 'delivery', status: 'sent' }]);
    }
    // Outside the window, or of another type: untouched.
    expect((await purchaseRows(stack.db, before.paymentIntentId)).orders).toEqual([]);
    const untouched = await stack.db
      .selectFrom('webhook_events')
      .select(['event_id', 'dispatched_at'])
      .where('event_id', 'in', [failedPayment.id])
      .execute();
    expect(untouched).toEqual([{ event_id: failedPayment.id, dispatched_at: null }]);
    const audits = await stack.db
      .selectFrom('audit_log')
      .select(['actor', 'action', 'reason', 'target'])
      .where('action', '=', 'webhook.replayed')
      .where(
        'target',
        'in',
        plan.map((p) => p.eventId),
      )
      .execute();
    expect(audits).toHaveLength(2);
    for (const audit of audits)
      expect(audit).toMatchObject({ actor: 'dana', reason: 'webhook downtime 10:00-10:20' });

    // Again: every step is idempotent; the plan starts nothing (the runs are past their
    // receipt, in their reminder phase or done).
    const again = jsonOf<{ change: string }[]>(await ops([...window, '--dry-run', '--json']));
    expect(again).toHaveLength(2);
    for (const { change } of again)
      expect(change).toMatch(/^none: the workflow (is running|completed)$/);
  });
});
