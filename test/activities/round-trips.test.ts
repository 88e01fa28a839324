import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import type { Database, Db } from '../../db/database.ts';
import { createActivityDeps } from '../../scripts/lib/worker-deps.ts';
import { recordStripeEvent, stripeTestId } from '../../stack/stripe-events.ts';
import type { FulfillmentInput } from '../../workflows/contracts.ts';
import { purchaseRows } from '../helpers/purchases.ts';
import { testConfig } from '../helpers/stack.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';
import { fileDatabaseUrl } from '../helpers/file-resources.ts';

/**
 * A database whose connections count what they send: every statement is a round trip, and a
 * COMMIT — or a write outside a transaction — is a commit (a WAL flush the server waits on).
 */
function countingDatabase(url: string) {
  const counts = { roundTrips: 0, commits: 0 };
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('connect', (client) => {
    let inTransaction = false;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      const first = args[0] as string | { text: string };
      const text = (typeof first === 'string' ? first : first.text).trim().toLowerCase();
      counts.roundTrips += 1;
      if (text.startsWith('begin')) inTransaction = true;
      else if (text.startsWith('commit')) {
        inTransaction = false;
        counts.commits += 1;
      } else if (text.startsWith('rollback')) inTransaction = false;
      else if (!inTransaction && /^(insert|update|delete|with)\b/.test(text)) counts.commits += 1;
      return query(...args);
    }) as typeof client.query;
  });
  const db: Db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    counts,
    /** The counts since the last call. */
    take() {
      const taken = { ...counts };
      counts.roundTrips = 0;
      counts.commits = 0;
      return taken;
    },
  };
}

let counting: ReturnType<typeof countingDatabase>;
beforeAll(() => {
  counting = countingDatabase(fileDatabaseUrl());
});
afterAll(() => counting.db.destroy());

describe('database round trips of a fulfillment', () => {
  it('records, activates and delivers a purchase in 13 round trips and 4 commits', async () => {
    const paymentIntentId = stripeTestId('pi');
    const event = paymentSucceeded({ paymentIntentId, email: `${paymentIntentId}@example.com` });
    await recordStripeEvent(counting.db, event);
    const activities = createActivities(createActivityDeps(testConfig(), counting.db));
    counting.take();

    const input: FulfillmentInput = {
      source: 'stripe',
      purchaseKey: paymentIntentId,
      paymentIntentId,
      stripeEventId: event.id,
    };
    const recorded = await activities.recordPurchase(input);
    // The event's payload, then BEGIN, the purchase's lock, the rows, COMMIT.
    expect(counting.take()).toEqual({ roundTrips: 5, commits: 1 });

    const activated = await activities.activateStoredEntitlements({
      jobId: recorded.jobId,
      orderId: recorded.orderId,
      purchaseKey: recorded.purchaseKey,
      assets: recorded.assets,
    });
    expect(activated).toEqual({ status: 'pending_email', entitlementStatus: 'pending_claim' });
    // BEGIN, the lock, the facts (activating), the statuses and the job, COMMIT.
    expect(counting.take()).toEqual({ roundTrips: 5, commits: 1 });

    const status = await activities.deliverOrder({
      jobId: recorded.jobId,
      orderId: recorded.orderId,
    });
    expect(status).toBe('completed');
    // The order with the ledger's row, the claimed attempt, then sent + analytics + completed.
    expect(counting.take()).toEqual({ roundTrips: 3, commits: 2 });

    const rows = await purchaseRows(counting.db, paymentIntentId);
    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
    expect(rows.jobEvents.map((e) => e.status)).toEqual([
      'pending_storage',
      'pending_entitlement',
      'pending_email',
      'completed',
    ]);
    expect(rows.emails).toMatchObject([{ kind: 'delivery', status: 'sent', attempts: 1 }]);
    const analytics = await counting.db
      .selectFrom('analytics_events')
      .select('name')
      .where('order_id', '=', recorded.orderId)
      .orderBy('name')
      .execute();
    expect(analytics.map((a) => a.name)).toEqual(['entitlement.granted', 'order.fulfilled']);
    const claimTokens = await counting.db
      .selectFrom('claim_tokens')
      .innerJoin('orders', 'orders.customer_id', 'claim_tokens.customer_id')
      .select('claim_tokens.id')
      .where('orders.id', '=', recorded.orderId)
      .execute();
    expect(claimTokens).toHaveLength(1);
  });
});
