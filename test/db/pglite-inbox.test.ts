// `npm start` without DATABASE_URL runs on embedded PGlite: the gateway's statements (CTE
// upserts, SKIP LOCKED claims, bytea) must work there too — and PGlite hands bytea back as a
// plain Uint8Array, not a Buffer.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import { countRateLimitHit } from '../../db/queries/rate-limits.ts';
import {
  claimDueWebhookEvents,
  listWebhookEvents,
  settleWebhookDispatch,
} from '../../db/queries/webhook-events.ts';
import { recordStripeEvent } from '../../gateway/ingest.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';

let db: Db;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pglite-inbox-'));
  db = await connectDatabase({ kind: 'pglite', dataDir: dir });
  await migrateToLatest(db);
}, 120_000);
afterAll(async () => {
  await db?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('the inbox on embedded PGlite', () => {
  it('records once, claims, reads a NUL event back from its bytes, settles, and counts limits', async () => {
    const event = { ...paymentSucceeded(), note: 'gift\u0000wrapped' };
    const delivery = { rawBody: Buffer.from(JSON.stringify(event)), event, utf8: true };
    const context = { actor: 'stripe', leaseSeconds: 0 };
    const first = await recordStripeEvent(db, delivery, context);
    const again = await recordStripeEvent(db, delivery, context);
    expect([first.inserted, again.inserted, again.row.deliveries]).toEqual([true, false, 2]);

    const [claimed, ...more] = await claimDueWebhookEvents(db, { limit: 5, leaseSeconds: 10 });
    expect(more).toEqual([]);
    expect(claimed!.payload).toEqual(event);
    expect(
      await settleWebhookDispatch(db, claimed!, {
        workflowId: first.row.workflow_id!,
        mayBeDuplicate: true,
        dispatchedBy: 'relay',
        attemptCounted: true,
      }),
    ).toBe('processed');
    expect(await listWebhookEvents(db, { status: 'dispatched' })).toMatchObject([
      { event_id: event.id, outcome: 'dispatched', deliveries: 2 },
    ]);

    expect((await countRateLimitHit(db, 'claims:203.0.113.7', 60_000)).hits).toBe(1);
    expect((await countRateLimitHit(db, 'claims:203.0.113.7', 60_000)).hits).toBe(2);
  });
});
