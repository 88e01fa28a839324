import { setTimeout as sleep } from 'node:timers/promises';
import { startResendStandIn } from '../../stack/resend-stand-in.ts';
import { runOpenLoad, isSuccess } from '../../bench/lib.ts';
import { waitFor } from '../../stack/processes.ts';
import {
  buildDisputeEvent,
  buildPaymentIntentSucceededEvent,
  signStripePayload,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { disputeWorkflowId } from '../../workflows/contracts.ts';
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
export const temporalOutage: Scenario = {
  name: 'temporal-outage',
  title: 'Temporal dev server killed under load, restarted on its state',
  async run(scale, log) {
    const size = SIZES[scale];
    const cleanups = new Cleanups();
    const verdict = createVerdict();
    try {
      const resend = await startResendStandIn();
      cleanups.add('resend stand-in', () => resend.close());
      const stack = await startChaosStack(cleanups, {
        resendUrl: resend.url,
        durableTemporal: true,
      });
      const buy = (paymentIntentId: string, email: string) =>
        buildPaymentIntentSucceededEvent({ paymentIntentId, skus: [SKU], email });

      // Timer probes: fulfilled purchases with an open dispute, whose run ends on its timer.
      const probes = Array.from({ length: size.timers }, () => stripeTestId('pi'));
      for (const [index, paymentIntentId] of probes.entries())
        await stack.postEvent(buy(paymentIntentId, `chaos-timer-${index}@example.com`));
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

      const total = Math.round(
        size.rate * (size.beforeSeconds + size.outageSeconds + size.afterSeconds),
      );
      log(`${total} purchases at ${size.rate}/s; Temporal down for ${size.outageSeconds} s`);
      const keys: string[] = [];
      const bodies: string[] = [];
      const load = runOpenLoad({
        label: 'temporal-outage',
        url: `${stack.apiUrl}/webhooks/stripe`,
        ratePerSecond: size.rate,
        durationSeconds: total / size.rate,
        signal: new AbortController().signal,
        buildRequest: (index) => {
          const paymentIntentId = stripeTestId('pi');
          keys[index] = paymentIntentId;
          const body = JSON.stringify(buy(paymentIntentId, `chaos-outage-${index}@example.com`));
          bodies[index] = body;
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
      await stack.killTemporal();
      log('killed the Temporal dev server (SIGKILL)');
      await sleep(size.outageSeconds * 1000);
      await stack.restartTemporal();
      const restartedAt = Date.now();
      log('Temporal dev server restarted on its SQLite file');
      const samples = await load;
      const acked = samples.filter(isSuccess).map((sample) => keys[sample.index]!);
      const non2xx = samples.length - acked.length;
      // As Stripe does: whatever was not acknowledged is delivered again.
      let redeliveredOk = 0;
      for (const sample of samples.filter((sample) => !isSuccess(sample))) {
        const status = await stack.postEvent(JSON.parse(bodies[sample.index]!));
        if (status !== null && status < 300) redeliveredOk += 1;
      }
      verdict.expect(redeliveredOk === non2xx, 'a redelivery after the restart was refused');

      const drained = await waitForTallies(stack.db, keys, deliveredOnce, 5 * 60_000, log);
      const drainSeconds = (Date.now() - restartedAt) / 1000;
      const lost = count(acked, (key) => !deliveredOnce(drained.tallies.get(key)!));
      const duplicates = count(drained.tallies.values(), (tally) => tally.orders > 1);
      const perKey = sendsPerKey(resend.sent);
      const sentTwice = count(perKey.values(), (sends) => sends > 1);

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
      verdict.expect(
        drained.complete,
        `${keys.length - count(drained.tallies.values(), deliveredOnce)} purchases never finished`,
      );
      verdict.expect(duplicates === 0, `${duplicates} purchases have more than one order`);
      verdict.expect(sentTwice === 0, `${sentTwice} idempotency keys were sent twice`);
      verdict.expect(
        timersFired === disputes.length,
        `${disputes.length - timersFired} of ${disputes.length} timers did not fire`,
      );
      expectNoCrashes(verdict, stack);
      return verdict.result(
        `${samples.length} purchases over a ${size.outageSeconds} s outage: ${acked.length} acknowledged, ` +
          `${non2xx} not (redelivered after the restart), lost ${lost}, duplicate orders ${duplicates}; ` +
          `backlog drained ${drainSeconds.toFixed(0)} s after the restart; ` +
          `timers fired ${timersFired}/${disputes.length} (${timerSeconds.toFixed(0)} s after they started); unplanned exits ${stack.crashes.length}`,
      );
    } finally {
      await cleanups.runAll();
    }
  },
};
