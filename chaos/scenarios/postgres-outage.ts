import { listRecordedEventIds } from '../../db/queries/outcomes.ts';
import {
  count,
  countKeysSentTwice,
  defineScenario,
  purchasesThroughOutage,
  redeliver,
  waitForFulfillments,
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
export const postgresOutage = defineScenario({
  name: 'postgres-outage',
  title: 'PostgreSQL stopped under load, restarted',
  async run({ scale, log, verdict, cleanups, startResend, startStack }) {
    const size = SIZES[scale];
    const postgres = await startPrivatePostgres();
    cleanups.add('private postgres', () => postgres.destroy());
    const resend = await startResend();
    const stack = await startStack({ resendUrl: resend.url, adminUrl: postgres.adminUrl });

    const load = await purchasesThroughOutage(stack, {
      label: 'postgres-outage',
      down: 'PostgreSQL',
      log,
      ...size,
      stop: () => postgres.crash(),
      stopped: 'stopped PostgreSQL (immediate mode, as a crash)',
      restart: () => postgres.start(),
      restarted: 'PostgreSQL started again',
    });
    const { keys, events, samples, acked, refused } = load;

    // No 2xx without a durable record: every acknowledged event survived the crash.
    const recorded = new Set(
      await listRecordedEventIds(
        stack.db,
        events.map((event) => event.id),
      ),
    );
    const ackedNotRecorded = count(acked, (sample) => !recorded.has(events[sample.index]!.id));

    const redeliveredOk = await redeliver(stack, load);
    const drained = await waitForFulfillments(stack.db, keys, log);
    const drainSeconds = (Date.now() - load.restartedAt) / 1000;
    const { fulfilled } = drained;
    const duplicates = count(
      drained.tallies.values(),
      (tally) => tally.orders > 1 || tally.emailKinds.length > 1 || tally.entitlements > 1,
    );
    const sentTwice = countKeysSentTwice(resend.sent);

    verdict.expect(
      ackedNotRecorded === 0,
      `${ackedNotRecorded} events got a 2xx but are not in the inbox`,
    );
    verdict.expect(redeliveredOk === refused.length, 'a redelivery after the restart was refused');
    verdict.expect(fulfilled === keys.length, `${keys.length - fulfilled} purchases not fulfilled`);
    verdict.expect(duplicates === 0, `${duplicates} purchases have duplicate rows`);
    verdict.expect(sentTwice === 0, `${sentTwice} idempotency keys were sent twice`);
    verdict.expect(
      resend.sent.length === keys.length,
      `the provider sent ${resend.sent.length} emails for ${keys.length} purchases`,
    );
    return (
      `${samples.length} purchases over a ${size.outageSeconds} s outage: ${acked.length} 2xx ` +
      `(${ackedNotRecorded} without a durable record), ${refused.length} refused and redelivered; ` +
      `${fulfilled} fulfilled exactly once, duplicates ${duplicates}, provider sends ${resend.sent.length}; ` +
      `all done ${drainSeconds.toFixed(0)} s after the restart`
    );
  },
});
