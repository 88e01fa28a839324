import { countAlerts, countJobsEverIn, listUnfinishedJobs } from '../../db/queries/outcomes.ts';
import { waitFor } from '../../stack/processes.ts';
import {
  countKeysSentTwice,
  defineScenario,
  postPurchases,
  waitForFulfillments,
} from '../harness.ts';

const SIZES = {
  // A timeout holds the request this long, then drops the connection without an answer. At
  // full scale that is past the email activity's 1-minute start-to-close timeout.
  short: { purchases: 9, timeoutMs: 3_000 },
  full: { purchases: 60, timeoutMs: 70_000 },
};

/**
 * 7. The email provider answers 429 (Retry-After 1 s), 500 and times out — a timeout that
 * drops the request, and one that sends the message but loses the answer — for the first two
 * attempts of every delivery email → at most one email per key, one alert per email that
 * failed twice, every job completed once the provider recovers.
 */
export const emailProvider = defineScenario({
  name: 'email-provider',
  title: 'email provider answering 429, 500 and timing out',
  async run({ scale, log, verdict, startResend, startStack }) {
    const size = SIZES[scale];
    const resend = await startResend();
    const stack = await startStack({ resendUrl: resend.url });
    // The outage: every send fails, the kinds in turn, until each email has failed twice.
    const kinds = ['429', '500', 'timeout, nothing sent', 'timeout, sent, answer lost'] as const;
    const queuedSends = size.purchases * 50;
    for (let attempt = 0; attempt < queuedSends; attempt += 1) {
      const kind = kinds[attempt % kinds.length]!;
      if (kind === '429') resend.failNext(1, 429, 1);
      else if (kind === '500') resend.failNext(1, 500);
      else
        resend.timeOutNext(1, {
          afterMs: size.timeoutMs,
          accept: kind === 'timeout, sent, answer lost',
        });
    }
    log(`${size.purchases} purchases; the provider fails every send until each alerted`);
    const { keys, non2xx } = await postPurchases(stack, size.purchases, 'email');

    // Each delivery email fails its two quick attempts and raises its alert.
    let alerts = 0;
    await waitFor(
      'an alert per failing email',
      async () => (alerts = await countAlerts(stack.db, 'email.failing')) >= size.purchases,
      { timeoutMs: 5 * 60_000, intervalMs: 500 },
    ).catch(() => undefined);
    const pendingRetry = await countJobsEverIn(stack.db, 'pending_retry');
    resend.recover();
    // The queue is served in order, one entry per request: request i met kind i mod 4.
    const outageRequests = resend.requests.length;
    const served = kinds.map(
      (kind, index) =>
        `${Math.floor(outageRequests / kinds.length) + (index < outageRequests % kinds.length ? 1 : 0)}× ${kind}`,
    );
    log(`${alerts} alerts raised; the provider has recovered`);
    const { seconds, fulfilled } = await waitForFulfillments(stack.db, keys, log);
    alerts = await countAlerts(stack.db, 'email.failing');
    const sentTwice = countKeysSentTwice(resend.sent);
    const failedRequests = resend.requests.length - resend.sent.length;

    verdict.expect(non2xx === 0, `${non2xx} purchases were not acknowledged with a 2xx`);
    verdict.expect(sentTwice === 0, `${sentTwice} idempotency keys were sent more than once`);
    verdict.expect(
      resend.sent.length === keys.length,
      `the provider sent ${resend.sent.length} emails for ${keys.length} purchases`,
    );
    verdict.expect(
      alerts === keys.length,
      `${alerts} email alerts for ${keys.length} failing emails`,
    );
    if (fulfilled < keys.length) {
      // Say where the unfinished ones stand, with the reason the job records.
      const byStatus = new Map<string, { jobs: number; error: string | null }>();
      for (const job of await listUnfinishedJobs(stack.db)) {
        const entry = byStatus.get(job.status) ?? { jobs: 0, error: job.last_error };
        entry.jobs += 1;
        byStatus.set(job.status, entry);
      }
      verdict.expect(
        false,
        `${keys.length - fulfilled} jobs did not complete: ${[...byStatus]
          .map(([status, { jobs, error }]) => `${jobs} ${status}${error ? ` (${error})` : ''}`)
          .join('; ')}`,
      );
    }
    return (
      `${keys.length} delivery emails, ${resend.requests.length} provider requests ` +
      `(outage: ${served.join(', ')}); sends per key ≤ 1 (${sentTwice} over), ` +
      `alerts ${alerts}, jobs shown pending_retry ${pendingRetry}; ${fulfilled} completed ` +
      `${seconds.toFixed(0)} s after recovery; ${failedRequests} requests without a new send`
    );
  },
});
