import { waitFor } from '../../stack/processes.ts';
import { buildDisputeEvent, stripeTestId } from '../../stack/stripe-events.ts';
import { disputeWorkflowId } from '../../workflows/contracts.ts';
import {
  count,
  countKeysSentTwice,
  defineScenario,
  deliveredOnce,
  purchaseEvent,
  purchasesThroughOutage,
  redeliver,
  waitForFulfillments,
  waitForTallies,
} from '../harness.ts';

const SIZES = {
  // The dispute workflow's quiet timer is 1 minute; at full scale it comes due mid-outage.
  short: { rate: 3, beforeSeconds: 3, outageSeconds: 5, afterSeconds: 2, timers: 2 },
  full: { rate: 5, beforeSeconds: 40, outageSeconds: 30, afterSeconds: 20, timers: 5 },
};

/**
 * 5. The Temporal dev server is SIGKILLed under load and started again on its SQLite file →
 * every acknowledged purchase is fulfilled once (nothing lost), the backlog drains, and
 * timers started before the outage still fire (the dispute workflow's 1-minute quiet timer).
 */
export const temporalOutage = defineScenario({
  name: 'temporal-outage',
  title: 'Temporal dev server killed under load, restarted on its state',
  async run({ scale, log, verdict, startResend, startStack }) {
    const { timers, ...size } = SIZES[scale];
    const resend = await startResend();
    const stack = await startStack({ resendUrl: resend.url, durableTemporal: true });

    // Timer probes: fulfilled purchases with an open dispute, whose run ends on its timer.
    const probes = Array.from({ length: timers }, () => stripeTestId('pi'));
    for (const [index, paymentIntentId] of probes.entries())
      await stack.postEvent(purchaseEvent(paymentIntentId, `chaos-timer-${index}@example.com`));
    await waitForTallies(stack.db, probes, deliveredOnce, 60_000);
    const disputes = probes.map((paymentIntentId) => ({
      paymentIntentId,
      disputeId: stripeTestId('dp'),
    }));
    for (const dispute of disputes)
      await stack.postEvent(buildDisputeEvent({ ...dispute, status: 'needs_response' }));
    const suspended = await waitForTallies(
      stack.db,
      probes,
      (tally) => tally.entitlementStatuses.join() === 'suspended',
      60_000,
    );
    verdict.expect(suspended.complete, 'the disputes did not suspend access before the outage');
    const timersStartedAt = Date.now();

    const load = await purchasesThroughOutage(stack, {
      label: 'temporal-outage',
      down: 'Temporal',
      log,
      ...size,
      stop: () => stack.killTemporal(),
      stopped: 'killed the Temporal dev server (SIGKILL)',
      restart: () => stack.restartTemporal(),
      restarted: 'Temporal dev server restarted on its SQLite file',
    });
    const { keys, samples, refused } = load;
    const acked = load.acked.map((sample) => keys[sample.index]!);
    const redeliveredOk = await redeliver(stack, load);
    verdict.expect(redeliveredOk === refused.length, 'a redelivery after the restart was refused');

    const drained = await waitForFulfillments(stack.db, keys, log);
    const drainSeconds = (Date.now() - load.restartedAt) / 1000;
    const lost = count(acked, (key) => !deliveredOnce(drained.tallies.get(key)!));
    const duplicates = count(drained.tallies.values(), (tally) => tally.orders > 1);
    const sentTwice = countKeysSentTwice(resend.sent);

    // The probes' timers: each dispute run ends after a minute without events.
    let timersFired = 0;
    await waitFor(
      'dispute timers fired',
      async () => {
        timersFired = 0;
        for (const { disputeId } of disputes) {
          const description = await stack.temporal.workflow
            .getHandle(disputeWorkflowId(disputeId))
            .describe();
          if (description.status.name === 'COMPLETED') timersFired += 1;
        }
        return timersFired === disputes.length;
      },
      { timeoutMs: 3 * 60_000, intervalMs: 1_000 },
    ).catch(() => undefined);
    const timerSeconds = (Date.now() - timersStartedAt) / 1000;

    verdict.expect(lost === 0, `${lost} acknowledged purchases were not fulfilled`);
    verdict.expect(drained.complete, `${keys.length - drained.fulfilled} purchases never finished`);
    verdict.expect(duplicates === 0, `${duplicates} purchases have more than one order`);
    verdict.expect(sentTwice === 0, `${sentTwice} idempotency keys were sent twice`);
    verdict.expect(
      timersFired === disputes.length,
      `${disputes.length - timersFired} of ${disputes.length} timers did not fire`,
    );
    return (
      `${samples.length} purchases over a ${size.outageSeconds} s outage: ${acked.length} acknowledged, ` +
      `${refused.length} not (redelivered after the restart), lost ${lost}, duplicate orders ${duplicates}; ` +
      `backlog drained ${drainSeconds.toFixed(0)} s after the restart; ` +
      `timers fired ${timersFired}/${disputes.length} (${timerSeconds.toFixed(0)} s after they started)`
    );
  },
});
