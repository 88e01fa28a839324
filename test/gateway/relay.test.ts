import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { buildApp } from '../../api/app.ts';
import { recordStripeEvent } from '../../gateway/ingest.ts';
import { relayDueEvents, type RelayOptions } from '../../gateway/relay.ts';
import { startRouteWorkflow, isDispatchable } from '../../gateway/dispatch.ts';
import { appDepsFromConfig } from '../../scripts/lib/app-options.ts';
import { getFreePort, waitFor } from '../../stack/processes.ts';
import { buildPaymentIntentSucceededEvent } from '../../stack/stripe-events.ts';
import { startTemporalDevServer, type DevServer } from '../../stack/temporal-dev-server.ts';
import { closeTemporalClient, lazyTemporalClient } from '../../temporal/client.ts';
import { fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import { createScratchDatabase } from '../helpers/database.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestWorker, testConfig } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

// This file runs its own Temporal server (so it can be down) and its own database (so the
// relay sees only this file's events).
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let server: DevServer | null = null;
let temporal: Client;
let address: string;
let port: number;
const cleanups: (() => Promise<void>)[] = [];
const relayOptions: RelayOptions = { batchSize: 10, concurrency: 4, leaseSeconds: 30 };

beforeAll(async () => {
  scratch = await createScratchDatabase();
  port = await getFreePort();
  address = `127.0.0.1:${port}`;
  temporal = lazyTemporalClient({ address, namespace: 'default' });
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  if (temporal) await closeTemporalClient(temporal);
  await server?.stop();
  await scratch?.drop();
});

const inboxRow = (eventId: string) =>
  scratch.db
    .selectFrom('webhook_events')
    .selectAll()
    .where('event_id', '=', eventId)
    .executeTakeFirstOrThrow();

/** Records an event as the webhook route would, due for the relay at once (no api dispatched it). */
async function recordUndispatched(event: ReturnType<typeof paymentSucceeded>) {
  return recordStripeEvent(
    scratch.db,
    { rawBody: Buffer.from(JSON.stringify(event)), event, utf8: true },
    { actor: 'stripe', leaseSeconds: 0 },
  );
}

/** Every run Temporal has of a workflow id, open or closed. */
async function runsOf(workflowId: string): Promise<number> {
  return (await temporal.workflow.count(`WorkflowId = '${workflowId}'`)).count;
}

describe('when Temporal is down', () => {
  it('acknowledges the recorded event, and the relay starts its workflow once Temporal is back', async () => {
    const config = testConfig({ DATABASE_URL: scratch.url, TEMPORAL_ADDRESS: address });
    const app = await buildApp({
      ...appDepsFromConfig(config, scratch.db, temporal),
      relay: undefined,
      logger: false,
    });
    cleanups.push(() => app.close());

    const event = paymentSucceeded();
    const paymentIntentId = event.data.object.id;
    const response = await postSignedEvent(app, event, config.STRIPE_WEBHOOK_SECRETS[0]!);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ received: true, result: 'pending' });
    const pending = await inboxRow(event.id);
    // The api's own attempt right after the ack failed: the row waits for the relay.
    expect(pending).toMatchObject({ result: null, dispatched_at: null, dispatch_attempts: 1 });
    expect(pending.error).toContain('Temporal');
    // Still ready: Temporal down does not turn webhooks away; the answer says what is degraded.
    const readiness = await app.inject({ method: 'GET', url: '/readyz' });
    expect(readiness.statusCode).toBe(200);
    expect(readiness.json()).toMatchObject({
      status: 'degraded',
      checks: { database: 'ok', temporal: 'unavailable' },
    });
    await scratch.db
      .updateTable('webhook_events')
      .set({ next_dispatch_at: new Date() })
      .where('event_id', '=', event.id)
      .execute();
    expect(await relayDueEvents(scratch.db, temporal, relayOptions)).toEqual({
      claimed: 1,
      dispatched: 0,
      retrying: 1,
    });
    // Backed off: not claimed again at once.
    expect((await relayDueEvents(scratch.db, temporal, relayOptions)).claimed).toBe(0);

    server = await startTemporalDevServer({ port, uiPort: null });
    const worker = await startTestWorker({ address, namespace: 'default' }, config, scratch.db);
    cleanups.push(() => worker.stop());
    // The row's backoff runs out within 30 s; the client may need a moment to reconnect.
    await waitFor(
      'relay dispatched the recorded event',
      async () => (await relayDueEvents(scratch.db, temporal, relayOptions)).dispatched === 1,
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );

    await settledFulfillment(temporal, paymentIntentId);
    const rows = await purchaseRows(scratch.db, paymentIntentId);
    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
    expect(rows.emails).toHaveLength(1);
    expect(await inboxRow(event.id)).toMatchObject({
      result: 'processed',
      dispatched_by: 'relay',
      error: null,
      next_dispatch_at: null,
    });
    const audit = await scratch.db
      .selectFrom('audit_log')
      .select(['actor', 'action'])
      .where('target', '=', event.id)
      .execute();
    expect(audit).toContainEqual({ actor: 'relay', action: 'webhook.processed' });
  }, 150_000);
});

describe('when the database is down', () => {
  it('answers 500 and records nothing, so Stripe retries', async () => {
    const config = testConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    const { connectDatabase } = await import('../../db/connect.ts');
    const deadDb = await connectDatabase({ kind: 'postgres', url: config.DATABASE_URL! });
    const app = await buildApp({
      ...appDepsFromConfig(config, deadDb, temporal),
      relay: undefined,
      logger: false,
    });
    cleanups.push(async () => {
      await app.close();
      await deadDb.destroy();
    });

    const response = await postSignedEvent(
      app,
      paymentSucceeded(),
      config.STRIPE_WEBHOOK_SECRETS[0]!,
    );
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      error: 'internal error',
      requestId: expect.any(String) as string,
    });
  });
});

describe('the relay with Temporal up', () => {
  it('dispatches every due row even when one of them cannot be read', async () => {
    const good = [paymentSucceeded(), paymentSucceeded()];
    for (const event of good) await recordUndispatched(event);
    const broken = paymentSucceeded();
    await recordUndispatched(broken);
    // Its bytes and JSON lost (as if damaged): the relay can only settle it as failed.
    await scratch.db
      .updateTable('webhook_events')
      .set({ payload: null, raw_body: Buffer.from('{not json') })
      .where('event_id', '=', broken.id)
      .execute();

    const result = await relayDueEvents(scratch.db, temporal, relayOptions);

    expect(result).toMatchObject({ claimed: 3, dispatched: 3, retrying: 0 });
    expect(await inboxRow(broken.id)).toMatchObject({ result: 'failed' });
    for (const event of good)
      expect(await inboxRow(event.id)).toMatchObject({
        result: 'processed',
        dispatched_by: 'relay',
      });
  });

  it('never hands one row to two relays: replicas claim disjoint rows', async () => {
    const events = Array.from({ length: 24 }, () => paymentSucceeded());
    for (const event of events) await recordUndispatched(event);

    const passes = await Promise.all(
      [1, 2, 3].map(() => relayDueEvents(scratch.db, temporal, { ...relayOptions, batchSize: 5 })),
    );

    expect(passes.reduce((sum, pass) => sum + pass.claimed, 0)).toBe(events.length);
    for (const event of events)
      expect(await inboxRow(event.id)).toMatchObject({
        result: 'processed',
        dispatch_attempts: 1,
      });
    const audits = await scratch.db
      .selectFrom('audit_log')
      .select('target')
      .where('action', '=', 'webhook.processed')
      .where(
        'target',
        'in',
        events.map((event) => event.id),
      )
      .execute();
    expect(audits).toHaveLength(events.length);
  });

  it('does not start a failed run a second time when a crashed api had started it already', async () => {
    // A purchase of an unknown SKU: its run ends `needs_attention` (a failed workflow).
    const event = buildPaymentIntentSucceededEvent({ skus: ['no-such-sku'] });
    const recorded = await recordUndispatched(event);
    const route = recorded.route;
    if (!isDispatchable(route)) throw new Error('expected a dispatchable route');
    // The api started it, then died before it could record that.
    await startRouteWorkflow(temporal, route);
    const handle = temporal.workflow.getHandle(fulfillmentWorkflowId(event.data.object.id));
    await expect(handle.result()).rejects.toThrow();

    const result = await relayDueEvents(scratch.db, temporal, relayOptions);

    expect(result).toMatchObject({ claimed: 1, dispatched: 1 });
    expect(await runsOf(route.workflowId)).toBe(1);
    expect(await inboxRow(event.id)).toMatchObject({ result: 'processed' });
  });
});
