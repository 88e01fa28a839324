import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { startResendStandIn } from '../../stack/resend-stand-in.ts';
import { isSuccess, runOpenLoad } from '../../bench/lib.ts';
import {
  buildPaymentIntentSucceededEvent,
  signStripePayload,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import {
  Cleanups,
  count,
  createVerdict,
  expectNoCrashes,
  deliveredOnce,
  sendsPerKey,
  SKU,
  startChaosStack,
  waitForTallies,
  type Scenario,
} from '../harness.ts';
import { startPrivatePostgres } from '../private-postgres.ts';

const SIZES = {
  short: { rate: 3, beforeSeconds: 3, outageSeconds: 5, afterSeconds: 2 },
  full: { rate: 5, beforeSeconds: 20, outageSeconds: 30, afterSeconds: 20 },
};

/**
 * 6. PostgreSQL (a private server) stopped as by a crash under load, started again → no 2xx
 * without a durable record (every acknowledged event is in the inbox after the restart), and
 * after Stripe-style redelivery of the refused ones, every purchase fulfilled exactly once.
 */
export const postgresOutage: Scenario = {
  name: 'postgres-outage',
  title: 'PostgreSQL stopped under load, restarted',
  async run(scale, log) {
    const size = SIZES[scale];
    const cleanups = new Cleanups();
    const verdict = createVerdict();
    try {
      const postgres = await startPrivatePostgres();
      cleanups.add('private postgres', () => postgres.destroy());
      const resend = await startResendStandIn();
      cleanups.add('resend stand-in', () => resend.close());
      const stack = await startChaosStack(cleanups, {
        resendUrl: resend.url,
        adminUrl: postgres.adminUrl,
      });

      const total = Math.round(
        size.rate * (size.beforeSeconds + size.outageSeconds + size.afterSeconds),
      );
      log(`${total} purchases at ${size.rate}/s; PostgreSQL down for ${size.outageSeconds} s`);
      const keys: string[] = [];
      const events: ReturnType<typeof buildPaymentIntentSucceededEvent>[] = [];
      const load = runOpenLoad({
        label: 'postgres-outage',
        url: `${stack.apiUrl}/webhooks/stripe`,
        ratePerSecond: size.rate,
        durationSeconds: total / size.rate,
        signal: new AbortController().signal,
        buildRequest: (index) => {
          const paymentIntentId = stripeTestId('pi');
          keys[index] = paymentIntentId;
          const event = buildPaymentIntentSucceededEvent({
            paymentIntentId,
            skus: [SKU],
            email: `chaos-pg-${index}@example.com`,
          });
          events[index] = event;
          const body = JSON.stringify(event);
          return {
            body,
            headers: {
              'content-type': 'application/json',
              'stripe-signature': signStripePayload(body, stack.webhookSecrets[0]!),
            },
          };
        },
      });
      await sleep(size.beforeSeconds * 1000);
      await postgres.crash();
      log('stopped PostgreSQL (immediate mode, as a crash)');
      await sleep(size.outageSeconds * 1000);
      await postgres.start();
      const restartedAt = Date.now();
      log('PostgreSQL started again');
      const samples = await load;
      const acked = samples.filter(isSuccess);
      const refused = samples.filter((sample) => !isSuccess(sample));

      // No 2xx without a durable record: every acknowledged event survived the crash.
      const recorded = new Set(
        (
          await stack.db
            .selectFrom('webhook_events')
            .select('event_id')
            .where(sql<boolean>`event_id = any(${events.map((event) => event.id)}::text[])`)
            .execute()
        ).map((row) => row.event_id),
      );
      const ackedNotRecorded = count(acked, (sample) => !recorded.has(events[sample.index]!.id));

      // As Stripe does: whatever was refused is delivered again.
      let redeliveredOk = 0;
      for (const sample of refused) {
        const status = await stack.postEvent(events[sample.index]!);
        if (status !== null && status < 300) redeliveredOk += 1;
      }
      const drained = await waitForTallies(stack.db, keys, deliveredOnce, 5 * 60_000, log);
      const drainSeconds = (Date.now() - restartedAt) / 1000;
      const fulfilled = count(drained.tallies.values(), deliveredOnce);
      const duplicates = count(
        drained.tallies.values(),
        (tally) => tally.orders > 1 || tally.emailKinds.length > 1 || tally.entitlements > 1,
      );
      const sentTwice = count(sendsPerKey(resend.sent).values(), (sends) => sends > 1);

      verdict.expect(
        ackedNotRecorded === 0,
        `${ackedNotRecorded} events got a 2xx but are not in the inbox`,
      );
      verdict.expect(
        redeliveredOk === refused.length,
        'a redelivery after the restart was refused',
      );
      verdict.expect(
        fulfilled === keys.length,
        `${keys.length - fulfilled} purchases not fulfilled`,
      );
      verdict.expect(duplicates === 0, `${duplicates} purchases have duplicate rows`);
      verdict.expect(sentTwice === 0, `${sentTwice} idempotency keys were sent twice`);
      verdict.expect(
        resend.sent.length === keys.length,
        `the provider sent ${resend.sent.length} emails for ${keys.length} purchases`,
      );
      expectNoCrashes(verdict, stack);
      return verdict.result(
        `${samples.length} purchases over a ${size.outageSeconds} s outage: ${acked.length} 2xx ` +
          `(${ackedNotRecorded} without a durable record), ${refused.length} refused and redelivered; ` +
          `${fulfilled} fulfilled exactly once, duplicates ${duplicates}, provider sends ${resend.sent.length}; ` +
          `all done ${drainSeconds.toFixed(0)} s after the restart; unplanned exits ${stack.crashes.length}`,
      );
    } finally {
      await cleanups.runAll();
    }
  },
};
