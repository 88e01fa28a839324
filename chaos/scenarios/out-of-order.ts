import type { DeployedStack } from '../../stack/deployed-stack.ts';
import { DEMO_SKU } from '../../stack/demo-catalog.ts';
import { mapLimit } from '../../stack/load.ts';
import { waitFor } from '../../stack/processes.ts';
import {
  buildChargeRefundedEvent,
  buildCheckoutSessionCompletedEvent,
  buildPaymentFailedEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { refundWorkflowId } from '../../workflows/contracts.ts';
import {
  count,
  countNot2xx,
  defineScenario,
  deliveredOnce,
  purchaseEvent,
  waitForTallies,
  type PurchaseTally,
} from '../harness.ts';

const PER_CASE = { short: 3, full: 30 };

interface Case {
  name: string;
  /**
   * The events in the order they are delivered; each waits for the previous answer. A
   * function in the list is awaited in its place (e.g. until the refund was applied).
   */
  events: (
    paymentIntentId: string,
    email: string,
    stack: DeployedStack,
  ) => (object | (() => Promise<void>))[];
  /** The end state the purchase must reach. */
  expected: string;
  reached: (tally: PurchaseTally) => boolean;
}

const revokedWithOneCancellation = (tally: PurchaseTally): boolean =>
  tally.orders === 1 &&
  tally.entitlementStatuses.join() === 'revoked' &&
  tally.jobStatuses.join() === 'revoked' &&
  tally.emailKinds.filter((kind) => kind === 'cancellation').length === 1 &&
  tally.unsentEmails === 0;

const CASES: Case[] = [
  {
    name: 'refund applied before success',
    events: (paymentIntentId, email, stack) => {
      const refundId = stripeTestId('re');
      return [
        buildChargeRefundedEvent({ paymentIntentId, amountRefunded: 2900, refundId }),
        // The refund workflow has recorded the refund before the success arrives (it starts
        // right after the ack, off the request: wait for it to exist, then to end).
        async () => {
          const refund = stack.temporal.workflow.getHandle(refundWorkflowId(refundId));
          await waitFor('the refund workflow started', async () =>
            Boolean(await refund.describe()),
          );
          await refund.result();
        },
        purchaseEvent(paymentIntentId, email),
      ];
    },
    expected: 'revoked, one cancellation email, no receipt',
    reached: (tally) => revokedWithOneCancellation(tally) && tally.emailKinds.length === 1,
  },
  {
    // Both acknowledged back to back: the refund workflow and the fulfillment race. Access
    // must end revoked with one cancellation; a receipt sent before the refund was applied
    // is allowed (its links are dead once revoked) and counted in the figures.
    name: 'refund and success back to back',
    events: (paymentIntentId, email) => [
      buildChargeRefundedEvent({ paymentIntentId, amountRefunded: 2900 }),
      purchaseEvent(paymentIntentId, email),
    ],
    expected: 'revoked, one cancellation email, at most one receipt',
    reached: (tally) =>
      revokedWithOneCancellation(tally) &&
      tally.emailKinds.filter((kind) => kind === 'delivery').length <= 1 &&
      tally.emailKinds.length <= 2,
  },
  {
    name: 'failure after success',
    events: (paymentIntentId, email) => [
      purchaseEvent(paymentIntentId, email),
      buildPaymentFailedEvent({ paymentIntentId, skus: [DEMO_SKU], email }),
    ],
    expected: 'completed, one delivery email',
    reached: (tally) =>
      deliveredOnce(tally) && tally.entitlementStatuses.join() === 'pending_claim',
  },
  {
    name: 'checkout session and payment intent',
    events: (paymentIntentId, email) => [
      buildCheckoutSessionCompletedEvent({ paymentIntentId, skus: [DEMO_SKU], email }),
      purchaseEvent(paymentIntentId, email),
    ],
    expected: 'one order, completed, one delivery email',
    reached: (tally) => deliveredOnce(tally) && tally.entitlements === 1,
  },
  {
    name: 'payment intent, then checkout session',
    events: (paymentIntentId, email) => [
      purchaseEvent(paymentIntentId, email),
      buildCheckoutSessionCompletedEvent({ paymentIntentId, skus: [DEMO_SKU], email }),
    ],
    expected: 'one order, completed, one delivery email',
    reached: (tally) => deliveredOnce(tally) && tally.entitlements === 1,
  },
];

/**
 * 2. Events out of order — a refund before the success, a failure after the success, a
 * checkout session and its payment intent for one purchase (both orders) → the right end state.
 */
export const outOfOrder = defineScenario({
  name: 'out-of-order',
  title:
    'refund before success (applied / racing), failure after success, session + payment intent',
  async run({ scale, log, verdict, startResend, startStack }) {
    const resend = await startResend();
    const stack = await startStack({ resendUrl: resend.url });
    const purchases = CASES.flatMap((kase) =>
      Array.from({ length: PER_CASE[scale] }, (_, index) => ({
        kase,
        paymentIntentId: stripeTestId('pi'),
        email: `chaos-order-${kase.name.replaceAll(' ', '-')}-${index}@example.com`,
      })),
    );
    log(`${purchases.length} purchases over ${CASES.length} orderings`);
    const statuses = (
      await mapLimit(purchases, 10, async ({ kase, paymentIntentId, email }) => {
        const answers: (number | null)[] = [];
        for (const step of kase.events(paymentIntentId, email, stack)) {
          if (typeof step === 'function') await step();
          else answers.push(await stack.postEvent(step));
        }
        return answers;
      })
    ).flat();
    const non2xx = countNot2xx(statuses);
    verdict.expect(non2xx === 0, `${non2xx} events were not acknowledged with a 2xx`);

    const figures: string[] = [];
    for (const kase of CASES) {
      const keys = purchases
        .filter((purchase) => purchase.kase === kase)
        .map((purchase) => purchase.paymentIntentId);
      const { tallies } = await waitForTallies(stack.db, keys, kase.reached, 90_000, log);
      const right = count(tallies.values(), kase.reached);
      verdict.expect(
        right === keys.length,
        `${kase.name}: ${keys.length - right} of ${keys.length} did not end ${kase.expected} ` +
          `(e.g. ${JSON.stringify([...tallies.values()].find((tally) => !kase.reached(tally)))})`,
      );
      const receipts = count(tallies.values(), (tally) => tally.emailKinds.includes('delivery'));
      figures.push(
        `${kase.name} ${right}/${keys.length}` +
          (kase.name.startsWith('refund') ? ` (receipt sent before the refund: ${receipts})` : ''),
      );
    }
    return `right end state: ${figures.join(', ')}; ${statuses.length} events, ${non2xx} non-2xx`;
  },
});
