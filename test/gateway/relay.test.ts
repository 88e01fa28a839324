import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.ts';
import { relayUndispatchedEvents } from '../../gateway/relay.ts';
import { appDepsFromConfig } from '../../scripts/lib/app-options.ts';
import { getFreePort, waitFor } from '../../stack/processes.ts';
import { startTemporalDevServer, type DevServer } from '../../stack/temporal-dev-server.ts';
import { lazyTemporalClient } from '../../temporal/client.ts';
import { createScratchDatabase } from '../helpers/database.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestWorker, testConfig } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

// This file runs its own Temporal server (so it can be down) and its own database (so the
// relay sees only this file's events).
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let server: DevServer | null = null;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  scratch = await createScratchDatabase();
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await server?.stop();
  await scratch?.drop();
});

describe('when Temporal is down', () => {
  it('acknowledges the recorded event, and the relay starts its workflow once Temporal is back', async () => {
    const port = await getFreePort();
    const address = `127.0.0.1:${port}`;
    const config = testConfig({ DATABASE_URL: scratch.url, TEMPORAL_ADDRESS: address });
    const temporal = lazyTemporalClient({ address, namespace: 'default' });
    const app = await buildApp({
      ...appDepsFromConfig(config, scratch.db, temporal),
      relay: undefined,
      gapCheck: undefined,
      logger: false,
    });
    cleanups.push(() => app.close());

    const event = paymentSucceeded();
    const paymentIntentId = event.data.object.id;
    const response = await postSignedEvent(app, event, config.STRIPE_WEBHOOK_SECRETS[0]!);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ received: true, result: 'pending' });
    const [pending] = await scratch.db
      .selectFrom('webhook_events')
      .selectAll()
      .where('event_id', '=', event.id)
      .execute();
    expect(pending).toMatchObject({ result: null, dispatched_at: null, dispatch_attempts: 1 });
    // Still ready: Temporal down does not turn webhooks away; the answer says what is degraded.
    const readiness = await app.inject({ method: 'GET', url: '/readyz' });
    expect(readiness.statusCode).toBe(200);
    expect(readiness.json()).toMatchObject({
      status: 'degraded',
      checks: { database: 'ok', temporal: 'unavailable' },
    });
    expect(await relayUndispatchedEvents(scratch.db, temporal, { minAgeSeconds: 0 })).toEqual({
      dispatched: 0,
      stillPending: 1,
    });

    server = await startTemporalDevServer({ port, uiPort: null });
    const worker = await startTestWorker({ address, namespace: 'default' }, config, scratch.db);
    cleanups.push(() => worker.stop());
    // The relay runs every few seconds; the client may need a tick or two to reconnect.
    await waitFor(
      'relay dispatched the recorded event',
      async () =>
        (await relayUndispatchedEvents(scratch.db, temporal, { minAgeSeconds: 0 })).dispatched ===
        1,
      { timeoutMs: 45_000, intervalMs: 1_000 },
    );

    await settledFulfillment(temporal, paymentIntentId);
    const rows = await purchaseRows(scratch.db, paymentIntentId);
    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
    expect(rows.emails).toHaveLength(1);
    const [dispatched] = await scratch.db
      .selectFrom('webhook_events')
      .selectAll()
      .where('event_id', '=', event.id)
      .execute();
    expect(dispatched).toMatchObject({ result: 'processed', error: null });
    const audit = await scratch.db
      .selectFrom('audit_log')
      .select(['actor', 'action'])
      .where('target', '=', event.id)
      .execute();
    expect(audit).toContainEqual({ actor: 'relay', action: 'webhook.processed' });
  }, 120_000);

  it('answers 500 and records nothing when the database is down, so Stripe retries', async () => {
    const config = testConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    const { connectDatabase } = await import('../../db/connect.ts');
    const deadDb = await connectDatabase({ kind: 'postgres', url: config.DATABASE_URL! });
    const temporal = lazyTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: 'default' });
    const app = await buildApp({
      ...appDepsFromConfig(config, deadDb, temporal),
      relay: undefined,
      gapCheck: undefined,
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
