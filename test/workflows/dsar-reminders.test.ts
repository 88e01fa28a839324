// DSAR erasure with a purchase still in its reminder phase: access is revoked, the open run is
// told to stop, then the person is erased — and no reminder goes out, even when the clock
// passes every reminder timer (time-skipping test server, real PostgreSQL).
import { describe, expect, it } from 'vitest';
import { createLocalStorage } from '../../drivers/storage/driver.ts';
import { waitFor } from '../../stack/processes.ts';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { deletePersonalData, REDACTED } from '../../support/dsar.ts';
import { fulfillmentStatusQuery } from '../../workflows/contracts.ts';
import { emailKinds, purchaseRows } from '../helpers/purchases.ts';
import { testConfig } from '../helpers/stack.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';
import {
  createTimeSkippingWorker,
  recordStripeEvent,
  startFulfillmentOn,
  useTimeSkippingSuite,
} from '../helpers/time-skipping.ts';

const suite = useTimeSkippingSuite();

describe('DSAR erasure while reminders are pending (time-skipping)', () => {
  it('revokes access, stops the open run and erases: no reminder is sent past 24 h and 7 d, and the report lists each step', async () => {
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db);
    const paymentIntentId = stripeTestId('pi');
    const email = `${paymentIntentId}@example.com`.toLowerCase();
    const eventId = await recordStripeEvent(suite.db, paymentSucceeded({ paymentIntentId, email }));
    const config = testConfig();
    const deps = {
      db: suite.db,
      temporal: suite.env.client,
      temporalUi: { baseUrl: 'http://localhost:8233', namespace: 'default' },
      storage: createLocalStorage(config.STORAGE_LOCAL_DIR),
      emailHashKey: config.SEARCH_ATTRIBUTE_HASH_KEY,
    };

    const { result, report } = await worker.runUntil(async () => {
      const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await waitFor(
        'reminder phase',
        async () => (await handle.query(fulfillmentStatusQuery)).phase === 'reminding',
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      const report = await deletePersonalData(deps, email, {
        operator: { name: 'erin', role: 'admin' },
        reason: 'DSAR 2026-201',
      });
      // Past both reminder timers: nothing may render for the erased address.
      await suite.env.sleep('8 days');
      return { result: await handle.result(), report };
    });

    expect(result.status).toBe('revoked');
    expect(report.steps.map(({ step, outcome }) => [step, outcome])).toEqual([
      ['revoke_access', 'done'],
      ['stop_reminders', 'done'],
      ['erase', 'done'],
    ]);
    expect(report.steps[0]!.detail).toBe(
      '1 entitlement(s) revoked in 1 order(s); no cancellation email',
    );
    expect(report.steps[1]!.detail).toBe('1 open fulfillment run(s) told to stop reminding');
    expect(report.steps[2]!.detail).toMatch(
      /^1 customer record\(s\) anonymised; \d+ row\(s\) deleted, \d+ redacted$/,
    );

    const rows = await purchaseRows(suite.db, paymentIntentId);
    expect(emailKinds(rows)).toEqual(['delivery']);
    expect(rows.emails.map((e) => e.recipient)).toEqual([REDACTED]);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['revoked']);
    expect(rows.jobs).toMatchObject([{ status: 'revoked' }]);
    const customer = await suite.db
      .selectFrom('customers')
      .selectAll()
      .where('id', '=', rows.orders[0]!.customer_id)
      .executeTakeFirstOrThrow();
    expect(customer.email).toMatch(/^deleted-.*@redacted\.invalid$/);
    expect(
      await suite.db
        .selectFrom('claim_tokens')
        .select('id')
        .where('customer_id', '=', customer.id)
        .execute(),
    ).toEqual([]);
    const audit = await suite.db
      .selectFrom('audit_log')
      .select(['actor', 'action', 'reason'])
      .where((eb) =>
        eb.or([eb('target', '=', rows.orders[0]!.id), eb('target', '=', report.subject)]),
      )
      .orderBy('id')
      .execute();
    expect(audit).toEqual([
      { actor: 'erin', action: 'entitlement.revoked', reason: 'DSAR erasure: DSAR 2026-201' },
      { actor: 'erin', action: 'dsar.deleted', reason: 'DSAR 2026-201' },
    ]);
  });

  it('refuses while a purchase of the person is still being delivered, and changes nothing', async () => {
    const { worker, taskQueue } = await createTimeSkippingWorker(suite.env, suite.db);
    const paymentIntentId = stripeTestId('pi');
    const email = `${paymentIntentId}@example.com`.toLowerCase();
    const eventId = await recordStripeEvent(suite.db, paymentSucceeded({ paymentIntentId, email }));
    const config = testConfig();
    await worker.runUntil(async () => {
      const handle = await startFulfillmentOn(suite.env, taskQueue, paymentIntentId, eventId);
      await waitFor(
        'reminder phase',
        async () => (await handle.query(fulfillmentStatusQuery)).phase === 'reminding',
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      // As a job retrying its receipt shows it.
      const { jobs } = await purchaseRows(suite.db, paymentIntentId);
      await suite.db
        .updateTable('fulfillment_jobs')
        .set({ status: 'pending_retry' })
        .where('id', '=', jobs[0]!.id)
        .execute();
      await expect(
        deletePersonalData(
          {
            db: suite.db,
            temporal: suite.env.client,
            temporalUi: { baseUrl: 'http://localhost:8233', namespace: 'default' },
            storage: createLocalStorage(config.STORAGE_LOCAL_DIR),
          },
          email,
          { operator: { name: 'erin', role: 'admin' }, reason: 'DSAR 2026-202' },
        ),
      ).rejects.toThrow(`still being fulfilled: ${paymentIntentId} (pending_retry)`);
      await handle.terminate('test over');
    });
    const rows = await purchaseRows(suite.db, paymentIntentId);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['pending_claim']);
    expect(rows.emails.map((e) => e.recipient)).toEqual([email]);
  });
});
