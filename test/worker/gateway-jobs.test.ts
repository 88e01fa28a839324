import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listPeriodicJobs } from '../../db/queries/periodic-jobs.ts';
import { recordWebhookEvent } from '../../db/queries/webhook-events.ts';
import { createStripeClient } from '../../drivers/stripe.ts';
import { waitFor } from '../../stack/processes.ts';
import { gatewayPeriodicJobs } from '../../worker/gateway-jobs.ts';
import { startPeriodicJobs } from '../../worker/periodic.ts';
import { createScratchDatabase } from '../helpers/database.ts';
import { testConfig } from '../helpers/stack.ts';
import { paymentSucceeded, payInLocalstripe } from '../helpers/stripe.ts';

// Its own database: the gap check records every localstripe event of the window.
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
beforeAll(async () => {
  scratch = await createScratchDatabase();
});
afterAll(async () => {
  await scratch?.drop();
});

/** An inbox row received `monthsAgo` months ago, settled or still waiting for its dispatch. */
async function recordOldEvent(monthsAgo: number, settled: boolean): Promise<string> {
  const event = paymentSucceeded();
  await recordWebhookEvent(scratch.db, {
    provider: 'stripe',
    event_id: event.id,
    type: event.type,
    api_version: null,
    livemode: false,
    event_created_at: new Date(event.created * 1000),
    payload: JSON.stringify(event),
    received_at: new Date(Date.now() - monthsAgo * 31 * 24 * 3_600_000),
    dispatched_at: null,
    processed_at: null,
    result: settled ? 'processed' : null,
    error: null,
    workflow_id: null,
  });
  return event.id;
}

const inboxIds = async () =>
  (await scratch.db.selectFrom('webhook_events').select('event_id').execute()).map(
    (row) => row.event_id,
  );

describe('the gateway’s fleet-wide periodic jobs', () => {
  it('run the gap check and the retention prune once per turn across two worker processes', async () => {
    const expired = await recordOldEvent(14, true);
    const owed = await recordOldEvent(14, false);
    const recent = await recordOldEvent(1, true);
    const config = testConfig({
      DATABASE_URL: scratch.url,
      // A few seconds each, so the test sees several turns.
      STRIPE_GAP_CHECK_INTERVAL_MINUTES: '0.05',
      STRIPE_GAP_CHECK_WINDOW_HOURS: '1',
      WEBHOOK_RETENTION_PRUNE_INTERVAL_HOURS: '0.001',
    });
    const stripe = createStripeClient(config.STRIPE_SECRET_KEY, config.STRIPE_API_URL);
    const paymentIntentId = await payInLocalstripe(stripe, {
      email: `gap-job-${Date.now()}@example.com`,
      skus: 'ebook-durable-execution',
    });

    const quiet = () => undefined;
    const workers = ['worker-a', 'worker-b'].map((holder) =>
      startPeriodicJobs(scratch.db, gatewayPeriodicJobs(config, scratch.db), {
        holder,
        log: quiet,
      }),
    );
    const missedEvent = () =>
      scratch.db
        .selectFrom('webhook_events')
        .select(['event_id', 'result', 'next_dispatch_at', 'raw_body'])
        .where('type', '=', 'payment_intent.succeeded')
        .where(sql<string>`payload->'data'->'object'->>'id'`, '=', paymentIntentId)
        .executeTakeFirst();
    try {
      await waitFor(
        'the gap check and the prune to have run',
        async () => (await missedEvent()) !== undefined && !(await inboxIds()).includes(expired),
        { timeoutMs: 45_000, intervalMs: 500 },
      );
      // Several more turns of each, so two workers had the chance to run one twice.
      await new Promise((resolve) => setTimeout(resolve, 8_000));
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
    }

    // Retention: settled events past 13 months are gone; owed and recent ones stay.
    expect(await inboxIds()).toEqual(expect.arrayContaining([owed, recent]));
    expect(await inboxIds()).not.toContain(expired);
    // The missed payment is recorded once, due at once for a relay in any api.
    const missed = (await missedEvent())!;
    expect(missed.result).toBeNull();
    expect(missed.next_dispatch_at!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(missed.raw_body).not.toBeNull();
    const redriven = await scratch.db
      .selectFrom('audit_log')
      .select('actor')
      .where('action', '=', 'webhook.gap_redriven')
      .where('target', '=', missed.event_id)
      .execute();
    expect(redriven).toEqual([{ actor: 'gap-check' }]);
    // One prune per turn handed out, whichever worker took it.
    const jobs = await listPeriodicJobs(scratch.db);
    const prune = jobs.find((job) => job.name === 'webhook-retention-prune')!;
    const pruned = await scratch.db
      .selectFrom('audit_log')
      .select('actor')
      .where('action', '=', 'webhook.pruned')
      .execute();
    expect(Number(prune.runs)).toBeGreaterThanOrEqual(2);
    expect(pruned).toHaveLength(Number(prune.runs));
    expect(jobs.map((job) => job.name)).toContain('stripe-gap-check');
  }, 90_000);
});
