// Start-up order as a rolling deploy or an outage meets it: the api and the worker are started
// (as the processes `npm run api` / `npm run worker` run) while Temporal is down. The api starts,
// acknowledges a webhook and says it is degraded; the worker waits with backoff, says what it
// waits for in its log and its /readyz; once Temporal is up the relay dispatches the recorded
// event and the worker fulfills it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanups, makeScratchDir } from '../../stack/cleanups.ts';
import { postWebhook } from '../../stack/load.ts';
import { getFreePort, waitFor } from '../../stack/processes.ts';
import { signStripePayload } from '../../stack/stripe-events.ts';
import { startTemporalDevServer } from '../../stack/temporal-dev-server.ts';
import { createScratchDatabase } from '../helpers/database.ts';
import { purchaseRows } from '../helpers/purchases.ts';
import { serviceEnv, spawnService } from '../helpers/services.ts';
import { isLoopback, listeningSocketsOf } from '../helpers/sockets.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';

const cleanups = new Cleanups('startup-order test');
let dir: string;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
beforeAll(async () => {
  dir = await makeScratchDir(cleanups, 'fulfillment-startup-');
  scratch = await createScratchDatabase();
  cleanups.add('database', () => scratch.drop());
});
afterAll(() => cleanups.runAll());

const json = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe('starting while Temporal is down', () => {
  it('the api acknowledges webhooks and the worker waits; both say so, and the event is fulfilled once Temporal is back', async () => {
    const temporalPort = await getFreePort();
    const temporalAddress = `127.0.0.1:${temporalPort}`;
    const [apiPort, workerPort] = [await getFreePort(), await getFreePort()];
    const env = serviceEnv({ DATABASE_URL: scratch.url, TEMPORAL_ADDRESS: temporalAddress });
    const api = spawnService('api', { ...env, PORT: String(apiPort) }, dir);
    cleanups.add('api', () => api.stop());
    const worker = spawnService(
      'worker',
      { ...env, WORKER_METRICS_PORT: String(workerPort), LOG_LEVEL: 'info' },
      dir,
    );
    cleanups.add('worker', () => worker.stop());
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const workerUrl = `http://127.0.0.1:${workerPort}`;

    // The api is up and ready for traffic, degraded: Temporal does not answer.
    await waitFor('the api answers /readyz', async () => (await fetch(`${apiUrl}/readyz`)).ok, {
      abort: () => api.exitReason(),
    });
    await waitFor('the api saw Temporal unavailable', async () => {
      const { body } = await json(`${apiUrl}/readyz`);
      return (body['checks'] as Record<string, string>)['temporal'] === 'unavailable';
    });
    expect(await json(`${apiUrl}/readyz`)).toMatchObject({
      status: 200,
      body: { status: 'degraded', checks: { database: 'ok', temporal: 'unavailable' } },
    });

    // The worker is alive, not ready, and says what it waits for — in /readyz and its log.
    await waitFor(
      'the worker reports its wait',
      async () => {
        const { body } = await json(`${workerUrl}/readyz`);
        return (body['temporal'] as { problem?: string }).problem !== undefined;
      },
      { abort: () => worker.exitReason() },
    );
    expect((await fetch(`${workerUrl}/healthz`)).status).toBe(200);
    const waiting = await json(`${workerUrl}/readyz`);
    expect(waiting).toMatchObject({
      status: 503,
      body: {
        phase: 'waiting for Temporal',
        temporal: {
          state: 'unavailable',
          problem: expect.stringContaining(
            `nothing answers at ${temporalAddress} (TEMPORAL_ADDRESS)`,
          ) as string,
        },
      },
    });
    await waitFor('the worker logged its wait', async () =>
      worker.recentOutput().includes('"msg":"waiting for Temporal"'),
    );
    expect(worker.recentOutput()).toContain(`"address":"${temporalAddress}"`);

    // A purchase arrives meanwhile: acknowledged and recorded for the relay.
    const event = paymentSucceeded();
    const payload = JSON.stringify(event);
    const signature = signStripePayload(payload, env['STRIPE_WEBHOOK_SECRETS']!);
    expect(await postWebhook(apiUrl, payload, signature)).toBe(200);
    const paymentIntentId = event.data.object.id;
    const [recorded] = await scratch.db
      .selectFrom('webhook_events')
      .select(['event_id', 'dispatched_at'])
      .where('event_id', '=', event.id)
      .execute();
    expect(recorded).toMatchObject({ event_id: event.id, dispatched_at: null });

    // Temporal comes back: the worker connects, the relay dispatches, the purchase is fulfilled.
    const devServer = await startTemporalDevServer({ port: temporalPort, uiPort: null });
    cleanups.add('temporal dev server', () => devServer.stop());
    await waitFor(
      'the worker fulfilled the recorded purchase',
      async () =>
        (await purchaseRows(scratch.db, paymentIntentId)).jobs.some(
          (job) => job.status === 'completed',
        ),
      { timeoutMs: 90_000, intervalMs: 500, abort: () => worker.exitReason() ?? api.exitReason() },
    );
    await waitFor('both report Temporal connected', async () => {
      const [apiReady, workerReady] = await Promise.all([
        json(`${apiUrl}/readyz`),
        json(`${workerUrl}/readyz`),
      ]);
      return (
        apiReady.status === 200 &&
        apiReady.body['status'] === 'ready' &&
        workerReady.status === 200 &&
        (workerReady.body['temporal'] as { state: string }).state === 'connected'
      );
    });
    expect((await json(`${workerUrl}/readyz`)).body).toMatchObject({ phase: 'polling' });
    // Both listen where their defaults say: this machine only (HOST, WORKER_METRICS_HOST).
    for (const service of [api, worker]) {
      const sockets = listeningSocketsOf(service.child.pid!);
      expect(sockets.length).toBeGreaterThan(0);
      expect(sockets.filter((socket) => !isLoopback(socket.address))).toEqual([]);
    }
  }, 180_000);
});
