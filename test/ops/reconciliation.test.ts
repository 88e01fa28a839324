import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createStripeClient } from '../../drivers/stripe.ts';
import type { ReconciliationFinding } from '../../db/tables/reconciliation-runs.ts';
import { dayWindow, runReconciliation } from '../../support/reconciliation.ts';
import { waitFor } from '../../stack/processes.ts';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { fulfillmentStatusQuery, fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, testConfig, type TestStack } from '../helpers/stack.ts';
import { payInLocalstripe, paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

const run = promisify(execFile);

let stack: TestStack;
let stripe: Stripe;

beforeAll(async () => {
  stack = await startTestStack();
  stripe = createStripeClient(stack.config.STRIPE_SECRET_KEY, stack.config.STRIPE_API_URL);
});
afterAll(async () => {
  await stack?.close();
});

/** Delivers Stripe's own payment_intent.succeeded for `paymentIntentId`, signed, and waits for the fulfillment. */
async function deliverAndFulfil(paymentIntentId: string): Promise<void> {
  let event: Stripe.Event | undefined;
  await waitFor('the success event in Stripe', async () => {
    for await (const candidate of stripe.events.list({
      type: 'payment_intent.succeeded',
      limit: 100,
    })) {
      if ((candidate.data.object as { id: string }).id === paymentIntentId) {
        event = candidate;
        return true;
      }
    }
    return false;
  });
  const response = await postSignedEvent(stack.app, event, stack.webhookSecret);
  expect(response.statusCode).toBe(200);
  const state = await settledFulfillment(stack.temporal, paymentIntentId);
  expect(state.status).toBe('completed');
}

const ops = (...args: string[]) =>
  run(process.execPath, ['scripts/ops.ts', ...args], {
    env: {
      PATH: process.env['PATH'],
      DATABASE_URL: stack.config.DATABASE_URL,
      TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE,
      STRIPE_SECRET_KEY: stack.config.STRIPE_SECRET_KEY,
      STRIPE_API_URL: stack.config.STRIPE_API_URL,
      STRIPE_WEBHOOK_SECRETS: stack.config.STRIPE_WEBHOOK_SECRETS.join(','),
      PAYLOAD_ENCRYPTION_KEYS: inject('payloadEncryptionKeys'),
      USER: 'support-alice',
    },
  });

const byKey = (findings: ReconciliationFinding[], key: string) =>
  findings.filter((f) => f.purchaseKey === key).map((f) => ({ class: f.class, action: f.action }));

describe('daily reconciliation against localstripe', () => {
  // Six real payments, six fulfillments and three CLI runs: give it room on a busy machine.
  it(
    'classifies every mismatch, heals the safe ones with --heal and stores each run',
    { timeout: 120_000 },
    async () => {
      const stamp = Date.now();
      // Missing entitlement: paid and fulfilled, then the entitlement row is lost.
      const lostEntitlement = await payInLocalstripe(stripe, {
        email: `lost-${stamp}@example.com`,
        skus: 'ebook-durable-execution',
        amount: 2300,
      });
      // Missing receipt: paid and fulfilled, then the receipt row is lost.
      const lostReceipt = await payInLocalstripe(stripe, {
        email: `receipt-${stamp}@example.com`,
        skus: 'ebook-idempotency-field-guide',
        amount: 2300,
      });
      // Bounced receipt.
      const bounced = await payInLocalstripe(stripe, {
        email: `bounce-${stamp}@example.com`,
        skus: 'course-webhooks-workbook',
        amount: 2300,
      });
      // Refunded in Stripe, refund webhook never arrived.
      const refunded = await payInLocalstripe(stripe, {
        email: `refund-${stamp}@example.com`,
        skus: 'ebook-durable-execution',
        amount: 2300,
      });
      // Healthy.
      const healthy = await payInLocalstripe(stripe, {
        email: `ok-${stamp}@example.com`,
        skus: 'ebook-durable-execution',
        amount: 2300,
      });
      for (const pi of [lostEntitlement, lostReceipt, bounced, refunded, healthy])
        await deliverAndFulfil(pi);
      // Entitled without a payment Stripe knows of (a forged or test-mode event).
      const unpaid = stripeTestId('pi');
      const forged = await postSignedEvent(
        stack.app,
        paymentSucceeded({ paymentIntentId: unpaid, email: `unpaid-${stamp}@example.com` }),
        stack.webhookSecret,
      );
      expect(forged.statusCode).toBe(200);
      await settledFulfillment(stack.temporal, unpaid);

      const lost = await purchaseRows(stack.db, lostEntitlement);
      await stack.db
        .deleteFrom('entitlements')
        .where('order_id', '=', lost.orders[0]!.id)
        .execute();
      const noReceipt = await purchaseRows(stack.db, lostReceipt);
      await stack.db
        .deleteFrom('email_deliveries')
        .where('order_id', '=', noReceipt.orders[0]!.id)
        .where('kind', '=', 'delivery')
        .execute();
      const bouncedRows = await purchaseRows(stack.db, bounced);
      await stack.db
        .updateTable('email_deliveries')
        .set({ status: 'bounced' })
        .where('order_id', '=', bouncedRows.orders[0]!.id)
        .execute();
      await stripe.refunds.create({ payment_intent: refunded });

      const mine = [lostEntitlement, lostReceipt, bounced, refunded, healthy, unpaid];
      const today = new Date().toISOString().slice(0, 10);
      const only = mine.flatMap((pi) => ['--payment-intent', pi]);

      // Report only (the table a support agent reads), then the stored run as JSON.
      const table = await ops('reconcile', '--date', today, ...only);
      expect(table.stdout).toContain('paid-not-entitled');
      expect(table.stdout).toMatch(/healed 0/);
      const report = JSON.parse(
        (await ops('reconcile', '--date', today, ...only, '--json')).stdout,
      ) as {
        id: string;
        heal: boolean;
        findings: ReconciliationFinding[];
        counts: Record<string, number>;
      };
      expect(report.heal).toBe(false);
      expect(byKey(report.findings, lostEntitlement)).toEqual([
        { class: 'paid-not-entitled', action: 'reported' },
      ]);
      expect(byKey(report.findings, lostReceipt)).toEqual([
        { class: 'entitled-without-email', action: 'reported' },
      ]);
      expect(byKey(report.findings, bounced)).toEqual([
        { class: 'email-bounced', action: 'reported' },
      ]);
      expect(byKey(report.findings, refunded)).toEqual([
        { class: 'refunded-still-active', action: 'reported' },
      ]);
      expect(byKey(report.findings, unpaid)).toEqual([
        { class: 'entitled-not-paid', action: 'reported' },
      ]);
      expect(byKey(report.findings, healthy)).toEqual([]);
      expect(report.counts).toEqual({
        'paid-not-entitled': 1,
        'entitled-not-paid': 1,
        'refunded-still-active': 1,
        'entitled-without-email': 1,
        'email-bounced': 1,
      });

      // --heal: the safe classes are re-driven; money and bounces stay reported.
      const healed = JSON.parse(
        (await ops('reconcile', '--date', today, ...only, '--heal', '--json')).stdout,
      ) as { id: string; healed: number; findings: ReconciliationFinding[] };
      expect(healed.healed).toBe(2);
      expect(byKey(healed.findings, lostEntitlement)[0]!.action).toMatch(/^healed/);
      expect(byKey(healed.findings, lostReceipt)[0]!.action).toMatch(/^healed/);
      expect(byKey(healed.findings, refunded)).toEqual([
        { class: 'refunded-still-active', action: 'reported' },
      ]);

      await waitFor(
        'the entitlement is back',
        async () => {
          const rows = await purchaseRows(stack.db, lostEntitlement);
          return rows.entitlements.length === 1 && rows.entitlements[0]!.status === 'pending_claim';
        },
        { timeoutMs: 30_000 },
      );
      await waitFor(
        'the receipt is sent',
        async () => {
          const rows = await purchaseRows(stack.db, lostReceipt);
          return rows.emails.some((e) => e.kind === 'delivery' && e.status === 'sent');
        },
        { timeoutMs: 30_000 },
      );
      const lostAfter = await purchaseRows(stack.db, lostEntitlement);
      expect(lostAfter.emails.filter((e) => e.kind === 'delivery')).toHaveLength(1);
      const state = await stack.temporal.workflow
        .getHandle(fulfillmentWorkflowId(lostEntitlement))
        .query(fulfillmentStatusQuery);
      expect(state.status).toBe('completed');
      const audit = await stack.db
        .selectFrom('audit_log')
        .select(['actor', 'target'])
        .where('action', '=', 'reconciliation.redriven')
        .where('target', 'in', [
          fulfillmentWorkflowId(lostEntitlement),
          fulfillmentWorkflowId(lostReceipt),
        ])
        .execute();
      expect(audit).toHaveLength(2);
      expect(audit.every((a) => a.actor === 'support-alice')).toBe(true);

      // Every run is stored and summarised in one alert.
      const runs = await stack.db
        .selectFrom('reconciliation_runs')
        .select(['id', 'heal', 'healed', 'actor'])
        .where('id', 'in', [report.id, healed.id])
        .orderBy('started_at')
        .execute();
      expect(runs).toEqual([
        { id: report.id, heal: false, healed: 0, actor: 'support-alice' },
        { id: healed.id, heal: true, healed: 2, actor: 'support-alice' },
      ]);
      const alerts = await stack.db
        .selectFrom('alerts')
        .select(['kind', 'summary'])
        .where('alert_key', '=', `reconciliation:${healed.id}`)
        .execute();
      expect(alerts).toHaveLength(1);
      expect(alerts[0]!.summary).toContain('1 paid-not-entitled');

      // Healed: a run now finds nothing healable for these purchases.
      const after = await runReconciliation(
        { db: stack.db, stripe, temporal: stack.temporal },
        { window: dayWindow(today), heal: false, actor: 'test', purchaseKeys: mine },
      );
      expect(after.findings.map((f) => f.class).sort()).toEqual([
        'email-bounced',
        'entitled-not-paid',
        'refunded-still-active',
      ]);
    },
  );

  it('refuses malformed reconciliation settings naming each variable', () => {
    expect(() => testConfig({ RECONCILE_CRON: 'nightly', RECONCILE_AUTO_HEAL: 'yes' })).toThrow(
      /RECONCILE_CRON[\s\S]*RECONCILE_AUTO_HEAL|RECONCILE_AUTO_HEAL[\s\S]*RECONCILE_CRON/,
    );
    const config = testConfig({ RECONCILE_AUTO_HEAL: 'true' });
    expect(config.RECONCILE_AUTO_HEAL).toBe(true);
    expect(config.RECONCILE_CRON).toBe('0 2 * * *');
  });

  it('refuses a malformed --date naming the flag', async () => {
    await expect(ops('reconcile', '--date', '2026-13-45')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--date') as unknown,
    });
  });
});
