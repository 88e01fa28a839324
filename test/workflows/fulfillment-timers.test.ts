import { describe, expect, it } from 'vitest';
import { buildChargeRefundedEvent, stripeTestId } from '../../stack/stripe-events.ts';
import { claimedSignal, fulfillmentStatusQuery } from '../../workflows/contracts.ts';
import { waitFor } from '../../stack/processes.ts';
import { readDownloadToken } from '../../security/download-links.ts';
import { emailKinds, purchaseRows } from '../helpers/purchases.ts';
import { testConfig } from '../helpers/stack.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';
import {
  createTimeSkippingWorker,
  recordStripeEvent,
  startFulfillmentOn,
  startRefundOn,
  useTimeSkippingSuite,
} from '../helpers/time-skipping.ts';

const suite = useTimeSkippingSuite();

async function guestPurchase(options: { userId?: string } = {}) {
  const paymentIntentId = stripeTestId('pi');
  const event = paymentSucceeded({
    paymentIntentId,
    email: `${paymentIntentId}@example.com`,
    ...options,
  });
  return { paymentIntentId, eventId: await recordStripeEvent(suite.db, event) };
}

type Handle = Awaited<ReturnType<typeof startFulfillmentOn>>;

/** Until the run has delivered and waits on its reminder timers (no time is skipped). */
async function deliveredAndReminding(handle: Handle): Promise<void> {
  await waitFor(
    'reminder phase',
    async () => (await handle.query(fulfillmentStatusQuery)).phase === 'reminding',
    { timeoutMs: 30_000, intervalMs: 50 },
  );
}

describe('reminder timers (time-skipping)', () => {
  it('sends the download and claim reminders at 24 h and the last claim reminder at 7 d when the guest never claims', async () => {
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db);
    const { paymentIntentId, eventId } = await guestPurchase();
    const result = await worker.runUntil(async () => {
      const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      return handle.result();
    });

    expect(result.status).toBe('completed');
    const rows = await purchaseRows(suite.db, paymentIntentId);
    expect(emailKinds(rows)).toEqual([
      'claim_reminder_24h',
      'claim_reminder_7d',
      'delivery',
      'download_reminder',
    ]);
    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
    // The download reminder carries download links of its own (signed when it is sent, valid
    // 48 h from then) for the purchase's entitlement, one per format.
    const linksIn = (kind: string) =>
      [
        ...rows.emails
          .find((e) => e.kind === kind)!
          .text.matchAll(/(PDF|EPUB): \S+\/downloads\/([A-Za-z0-9_-]{51})/g),
      ].map((m) => m[2]!);
    const reminderLinks = linksIn('download_reminder');
    expect(reminderLinks).toHaveLength(2);
    const secrets = testConfig().DOWNLOAD_TOKEN_SECRETS!;
    for (const token of reminderLinks) {
      const read = readDownloadToken(token, secrets);
      expect(read).toMatchObject({
        ok: true,
        expired: false,
        link: { entitlementId: rows.entitlements[0]!.id },
      });
    }
  });

  it('sends no reminder when the guest claims before the first one', async () => {
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db);
    const { paymentIntentId, eventId } = await guestPurchase();
    await worker.runUntil(async () => {
      const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await deliveredAndReminding(handle);
      await handle.signal(claimedSignal);
      await handle.result();
    });

    expect(emailKinds(await purchaseRows(suite.db, paymentIntentId))).toEqual(['delivery']);
  });

  it('stops after the 24 h reminders when the guest claims between them', async () => {
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db);
    const { paymentIntentId, eventId } = await guestPurchase();
    await worker.runUntil(async () => {
      const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await deliveredAndReminding(handle);
      await suite.env.sleep('30 hours');
      expect(emailKinds(await purchaseRows(suite.db, paymentIntentId))).toEqual([
        'claim_reminder_24h',
        'delivery',
        'download_reminder',
      ]);
      await handle.signal(claimedSignal);
      await handle.result();
    });

    expect(emailKinds(await purchaseRows(suite.db, paymentIntentId))).toEqual([
      'claim_reminder_24h',
      'delivery',
      'download_reminder',
    ]);
  });

  it('skips the download reminder when the buyer downloaded before 24 h', async () => {
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db);
    const { paymentIntentId, eventId } = await guestPurchase({
      userId: `auth0|${stripeTestId('u')}`,
    });
    await worker.runUntil(async () => {
      const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await deliveredAndReminding(handle);
      const { orders } = await purchaseRows(suite.db, paymentIntentId);
      await suite.db
        .updateTable('entitlements')
        .set({ last_download_at: new Date() })
        .where('order_id', '=', orders[0]!.id)
        .execute();
      await handle.result();
    });

    // A known account is never asked to claim; it downloaded, so nothing is owed.
    expect(emailKinds(await purchaseRows(suite.db, paymentIntentId))).toEqual(['delivery']);
  });

  it('stops the reminders when a refund revokes the purchase during the reminder phase', async () => {
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db);
    const { paymentIntentId, eventId } = await guestPurchase();
    const refundId = stripeTestId('re');
    const refundEventId = await recordStripeEvent(
      suite.db,
      buildChargeRefundedEvent({ paymentIntentId, refundId, amountRefunded: 2900 }),
    );
    const result = await worker.runUntil(async () => {
      const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await deliveredAndReminding(handle);
      await (await startRefundOn(suite.env, taskQueue, refundId, refundEventId)).result();
      return handle.result();
    });

    expect(result.status).toBe('revoked');
    const rows = await purchaseRows(suite.db, paymentIntentId);
    expect(emailKinds(rows)).toEqual(['cancellation', 'delivery']);
    expect(rows.jobs).toMatchObject([{ status: 'revoked' }]);
  });
});
