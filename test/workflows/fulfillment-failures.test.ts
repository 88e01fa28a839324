import { describe, expect, it } from 'vitest';
import type { EmailDriver } from '../../drivers/email/driver.ts';
import { createOutboxDriver } from '../../drivers/email/driver.ts';
import type { Db } from '../../db/database.ts';
import { upsertProducts } from '../../db/queries/products.ts';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { fulfillmentStatusQuery, fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import { emailKinds, purchaseRows } from '../helpers/purchases.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';
import {
  createTimeSkippingWorker,
  recordStripeEvent,
  startFulfillmentOn,
  useTimeSkippingSuite,
} from '../helpers/time-skipping.ts';

const suite = useTimeSkippingSuite();

async function purchase(skus = ['ebook-durable-execution']) {
  const paymentIntentId = stripeTestId('pi');
  const event = paymentSucceeded({ paymentIntentId, skus, userId: `auth0|${paymentIntentId}` });
  return { paymentIntentId, eventId: await recordStripeEvent(suite.db, event) };
}

const alertsOf = (jobId: string) =>
  suite.db.selectFrom('alerts').select(['kind', 'severity']).where('job_id', '=', jobId).execute();

/** An email provider that fails its first `failures` sends, then delivers. */
function flakyEmail(failures: number): EmailDriver & { calls: number } {
  const outbox = createOutboxDriver();
  const driver = {
    name: 'flaky',
    calls: 0,
    async send(email: Parameters<EmailDriver['send']>[0]) {
      driver.calls += 1;
      if (driver.calls <= failures) throw new Error('provider answered 503');
      return outbox.send(email);
    },
  };
  return driver;
}

/** A database whose first `failures` transactions fail as a dropped connection would. */
function flakyDatabase(db: Db, failures: number): Db {
  let remaining = failures;
  return new Proxy(db, {
    get(target, property) {
      if (property === 'transaction' && remaining > 0) {
        remaining -= 1;
        return () => {
          throw new Error('Connection terminated unexpectedly');
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

describe('failure injection (time-skipping)', () => {
  it('shows pending_retry while the email keeps failing, alerts once, and completes when it recovers', async () => {
    const email = flakyEmail(4);
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db, { email });
    const { paymentIntentId, eventId } = await purchase();
    await worker.runUntil(async () => {
      const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await suite.env.sleep('20 minutes');
      const state = await handle.query(fulfillmentStatusQuery);
      expect(state.steps.map((s) => s.status)).toContain('pending_retry');
      expect(state.status).toBe('completed');
    });

    const rows = await purchaseRows(suite.db, paymentIntentId);
    expect(rows.jobEvents.map((e) => e.status)).toEqual([
      'pending_storage',
      'pending_entitlement',
      'pending_email',
      'pending_retry',
      'completed',
    ]);
    expect(rows.emails).toMatchObject([{ kind: 'delivery', status: 'sent', attempts: 5 }]);
    expect(email.calls).toBe(5);
    expect(await alertsOf(rows.jobs[0]!.id)).toEqual([
      { kind: 'email.failing', severity: 'warning' },
    ]);
  });

  it('rides out database errors: pending_retry, then completed with one of everything', async () => {
    const { paymentIntentId, eventId } = await purchase();
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db, {
      db: flakyDatabase(suite.db, 4),
    });
    await worker.runUntil(async () => {
      const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await suite.env.sleep('10 minutes');
      expect((await handle.query(fulfillmentStatusQuery)).phase).toBe('reminding');
    });

    const rows = await purchaseRows(suite.db, paymentIntentId);
    expect(rows.orders).toHaveLength(1);
    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
    expect(emailKinds(rows)).toEqual(['delivery']);
  });

  it('ends in needs_attention with one alert when an asset is still missing after its retry window', async () => {
    const sku = `ebook-unuploaded-${stripeTestId('x')}`;
    await upsertProducts(suite.db, [
      {
        sku,
        slug: sku,
        title: 'Never Uploaded',
        version: 'v1',
        formats: ['pdf'],
        stripe_price_id: null,
      },
    ]);
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db);
    const { paymentIntentId, eventId } = await purchase([sku]);
    await worker.runUntil(async () => {
      const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await expect(handle.result()).rejects.toThrow('Workflow execution failed');
      expect((await handle.query(fulfillmentStatusQuery)).status).toBe('needs_attention');
    });

    const rows = await purchaseRows(suite.db, paymentIntentId);
    expect(rows.jobs).toMatchObject([{ status: 'needs_attention' }]);
    expect(rows.jobs[0]?.last_error).toContain('retry window');
    expect(rows.entitlements.map((e) => e.status)).toEqual(['processing']);
    expect(rows.emails).toHaveLength(0);
    expect(await alertsOf(rows.jobs[0]!.id)).toEqual([
      { kind: 'fulfillment.needs_attention', severity: 'critical' },
    ]);
  });

  it('ends in needs_attention at once, without retrying, for an unknown SKU', async () => {
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db);
    const { paymentIntentId, eventId } = await purchase(['ebook-that-does-not-exist']);
    await worker.runUntil(async () => {
      const handle = suite.env.client.workflow.getHandle(fulfillmentWorkflowId(paymentIntentId));
      await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await expect(handle.result()).rejects.toMatchObject({
        cause: { message: 'unknown ebook-that-does-not-exist', type: 'UnknownSku' },
      });
    });

    const rows = await purchaseRows(suite.db, paymentIntentId);
    expect(rows.jobs).toMatchObject([{ status: 'needs_attention' }]);
    expect(rows.entitlements).toHaveLength(0);
  });
});
