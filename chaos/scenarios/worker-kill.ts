import { startResendStandIn } from '../../stack/resend-stand-in.ts';
import { buildPaymentIntentSucceededEvent, stripeTestId } from '../../stack/stripe-events.ts';
import {
  Cleanups,
  count,
  createVerdict,
  expectNoCrashes,
  deliveredOnce,
  mapLimit,
  sendsPerKey,
  SKU,
  startChaosStack,
  waitForTallies,
  type ChaosStack,
  type Scenario,
} from '../harness.ts';

const SIZES = {
  short: { purchases: 10, kills: 1 },
  full: { purchases: 100, kills: 3 },
};

/**
 * 4. The worker is SIGKILLed after the email provider accepted a message and before the
 * activity completed (the stand-in kills it before answering), then restarted → one email
 * per key, at the provider and in email_deliveries.
 */
export const workerKill: Scenario = {
  name: 'worker-kill',
  title: 'worker SIGKILLed after the provider accepted an email, before the activity completed',
  async run(scale, log) {
    const { purchases: purchaseCount, kills } = SIZES[scale];
    const cleanups = new Cleanups();
    const verdict = createVerdict();
    try {
      let stack: ChaosStack | null = null;
      const killedAt: { key: string; ledgerStatus: string | null }[] = [];
      const killEvery = Math.max(1, Math.floor(purchaseCount / kills));
      let accepted = 0;
      let restarting: Promise<unknown> = Promise.resolve();
      const resend = await startResendStandIn({
        async beforeAnswer(message) {
          accepted += 1;
          // The first acceptance after each killEvery-th: the answer never reaches the worker.
          if (!stack || killedAt.length >= kills || (accepted - 1) % killEvery !== 0) return;
          const current: ChaosStack = stack;
          await current.killWorker();
          const row = await current.db
            .selectFrom('email_deliveries')
            .select('status')
            .where('idempotency_key', '=', message.idempotencyKey ?? '')
            .executeTakeFirst();
          killedAt.push({ key: message.idempotencyKey ?? '', ledgerStatus: row?.status ?? null });
          log(`killed the worker after the provider accepted ${message.idempotencyKey}`);
          restarting = restarting.then(() => current.startWorker());
        },
      });
      cleanups.add('resend stand-in', () => resend.close());
      stack = await startChaosStack(cleanups, { resendUrl: resend.url });
      const active: ChaosStack = stack;
      const keys = Array.from({ length: purchaseCount }, () => stripeTestId('pi'));
      const statuses = await mapLimit(keys, 10, (paymentIntentId, index) =>
        active.postEvent(
          buildPaymentIntentSucceededEvent({
            paymentIntentId,
            skus: [SKU],
            email: `chaos-kill-${index}@example.com`,
          }),
        ),
      );
      const non2xx = count(statuses, (status) => status === null || status >= 300);
      // A killed activity is retried once its start-to-close timeout (1 minute) has passed.
      const { tallies, seconds } = await waitForTallies(
        active.db,
        keys,
        deliveredOnce,
        5 * 60_000,
        log,
      );
      await restarting;
      const fulfilled = count(tallies.values(), deliveredOnce);
      const perKey = sendsPerKey(resend.sent);
      const duplicated = count(perKey.values(), (sends) => sends > 1);
      const unrecordedAtKill = count(killedAt, (kill) => kill.ledgerStatus !== 'sent');
      const rows = [...tallies.values()].flatMap((tally) => tally.emailKeys);
      const killedKeysSentOnce = killedAt.filter(
        (kill) => perKey.get(kill.key) === 1 && rows.includes(kill.key),
      ).length;

      verdict.expect(non2xx === 0, `${non2xx} purchases were not acknowledged with a 2xx`);
      verdict.expect(killedAt.length === kills, `the worker was killed ${killedAt.length} times`);
      verdict.expect(
        unrecordedAtKill === killedAt.length,
        'a killed send was already recorded as sent: the kill came too late to test anything',
      );
      verdict.expect(
        fulfilled === keys.length,
        `${keys.length - fulfilled} purchases not fulfilled`,
      );
      verdict.expect(duplicated === 0, `${duplicated} idempotency keys were sent more than once`);
      verdict.expect(
        resend.sent.length === keys.length,
        `the provider sent ${resend.sent.length} emails for ${keys.length} purchases`,
      );
      verdict.expect(
        killedKeysSentOnce === killedAt.length,
        'a killed send is missing from the ledger or was sent twice',
      );
      expectNoCrashes(verdict, active);
      return verdict.result(
        `${keys.length} purchases, ${killedAt.length} SIGKILLs each after an accepted, ` +
          `unrecorded send; provider sends ${resend.sent.length}, keys sent twice ${duplicated}; ` +
          `${fulfilled} fulfilled with one email row each; all done ${seconds.toFixed(0)} s after the last purchase; unplanned exits ${active.crashes.length}`,
      );
    } finally {
      await cleanups.runAll();
    }
  },
};
