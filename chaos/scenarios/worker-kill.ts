import { findEmailDeliveryStatus } from '../../db/queries/outcomes.ts';
import type { DeployedStack } from '../../stack/deployed-stack.ts';
import {
  count,
  defineScenario,
  postPurchases,
  sendsPerKey,
  waitForFulfillments,
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
export const workerKill = defineScenario({
  name: 'worker-kill',
  title: 'worker SIGKILLed after the provider accepted an email, before the activity completed',
  async run({ scale, log, verdict, startResend, startStack }) {
    const { purchases: purchaseCount, kills } = SIZES[scale];
    let stack: DeployedStack | null = null;
    const killedAt: { key: string; ledgerStatus: string | null }[] = [];
    const killEvery = Math.max(1, Math.floor(purchaseCount / kills));
    let accepted = 0;
    let restarting: Promise<unknown> = Promise.resolve();
    const resend = await startResend({
      async beforeAnswer(message) {
        accepted += 1;
        // The first acceptance after each killEvery-th: the answer never reaches the worker.
        if (!stack || killedAt.length >= kills || (accepted - 1) % killEvery !== 0) return;
        const current: DeployedStack = stack;
        await current.killWorker();
        const key = message.idempotencyKey ?? '';
        killedAt.push({ key, ledgerStatus: await findEmailDeliveryStatus(current.db, key) });
        log(`killed the worker after the provider accepted ${message.idempotencyKey}`);
        restarting = restarting.then(() => current.startWorker());
      },
    });
    stack = await startStack({ resendUrl: resend.url });
    const active: DeployedStack = stack;
    const { keys, non2xx } = await postPurchases(active, purchaseCount, 'kill');
    // A killed activity is retried once its start-to-close timeout (1 minute) has passed.
    const { tallies, seconds, fulfilled } = await waitForFulfillments(active.db, keys, log);
    await restarting;
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
    verdict.expect(fulfilled === keys.length, `${keys.length - fulfilled} purchases not fulfilled`);
    verdict.expect(duplicated === 0, `${duplicated} idempotency keys were sent more than once`);
    verdict.expect(
      resend.sent.length === keys.length,
      `the provider sent ${resend.sent.length} emails for ${keys.length} purchases`,
    );
    verdict.expect(
      killedKeysSentOnce === killedAt.length,
      'a killed send is missing from the ledger or was sent twice',
    );
    return (
      `${keys.length} purchases, ${killedAt.length} SIGKILLs each after an accepted, ` +
      `unrecorded send; provider sends ${resend.sent.length}, keys sent twice ${duplicated}; ` +
      `${fulfilled} fulfilled with one email row each; all done ${seconds.toFixed(0)} s after the last purchase`
    );
  },
});
