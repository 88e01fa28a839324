import { mapLimit } from '../../stack/load.ts';
import { stripeTestId } from '../../stack/stripe-events.ts';
import {
  count,
  countKeysSentTwice,
  countNot2xx,
  defineScenario,
  purchaseEvent,
  waitForFulfillments,
} from '../harness.ts';

const PURCHASES = { short: 30, full: 1000 };
// Stripe's own retries are hours apart; 20 purchases in flight at once is a busy shop.
const IN_FLIGHT = 20;

/**
 * 1. Every purchase's event delivered three times, two copies at the same moment and one
 * after both were answered → one order, one entitlement and one delivery email each.
 */
export const duplicateDeliveries = defineScenario({
  name: 'duplicates',
  title: 'each event delivered 3 times, 2 copies concurrent',
  async run({ scale, log, verdict, startResend, startStack }) {
    const resend = await startResend();
    const stack = await startStack({ resendUrl: resend.url });
    const purchases = Array.from({ length: PURCHASES[scale] }, (_, index) => {
      const paymentIntentId = stripeTestId('pi');
      return {
        paymentIntentId,
        event: purchaseEvent(paymentIntentId, `chaos-duplicates-${index}@example.com`),
      };
    });
    log(`${purchases.length} purchases × 3 deliveries`);
    const statuses = (
      await mapLimit(purchases, IN_FLIGHT, async ({ event }) => {
        const concurrent = await Promise.all([stack.postEvent(event), stack.postEvent(event)]);
        return [...concurrent, await stack.postEvent(event)];
      })
    ).flat();
    const non2xx = countNot2xx(statuses);
    const keys = purchases.map((purchase) => purchase.paymentIntentId);
    const { tallies, seconds, fulfilled } = await waitForFulfillments(stack.db, keys, log);
    const values = [...tallies.values()];
    const extraOrders = count(values, (tally) => tally.orders > 1);
    const extraEntitlements = count(values, (tally) => tally.entitlements > 1);
    const extraEmails = count(values, (tally) => tally.emailKinds.length > 1);
    const keysSentTwice = countKeysSentTwice(resend.sent);

    verdict.expect(non2xx === 0, `${non2xx} deliveries were not acknowledged with a 2xx`);
    verdict.expect(fulfilled === keys.length, `${keys.length - fulfilled} purchases not fulfilled`);
    verdict.expect(extraOrders === 0, `${extraOrders} purchases have more than one order`);
    verdict.expect(
      extraEntitlements === 0,
      `${extraEntitlements} purchases have more than one entitlement`,
    );
    verdict.expect(extraEmails === 0, `${extraEmails} purchases have more than one email row`);
    verdict.expect(
      resend.sent.length === keys.length && keysSentTwice === 0,
      `the provider sent ${resend.sent.length} emails for ${keys.length} purchases`,
    );
    return (
      `${keys.length} purchases, ${statuses.length} deliveries (${non2xx} non-2xx); ` +
      `${fulfilled} fulfilled exactly once; duplicate orders ${extraOrders}, ` +
      `entitlements ${extraEntitlements}, email rows ${extraEmails}; ` +
      `provider sends ${resend.sent.length}; drained ${seconds.toFixed(0)} s after the last delivery`
    );
  },
});
