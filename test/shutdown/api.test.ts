import { once } from 'node:events';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/database.ts';
import { connectDatabase } from '../../db/connect.ts';
import { getFreePort, spawnManaged, waitFor, type ManagedProcess } from '../../stack/processes.ts';
import { recordStripeEvent, signStripePayload } from '../../stack/stripe-events.ts';
import { testConfig, testEnv } from '../helpers/stack.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';

// `node scripts/api.ts` as a platform runs it, stopped with SIGTERM while a webhook is mid-way:
// the webhook's insert waits on a row lock this test holds, so the request stays in flight for
// exactly as long as the test wants.

let db: Db;
const started: ManagedProcess[] = [];
beforeAll(async () => {
  db = await connectDatabase({ kind: 'postgres', url: testConfig().DATABASE_URL! });
});
afterAll(async () => {
  for (const api of started) await api.stop(2_000);
  await db?.destroy();
});

async function startApi() {
  const port = await getFreePort();
  const env = testEnv({
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info',
    STRIPE_GAP_CHECK_INTERVAL_MINUTES: '0',
    SHUTDOWN_GRACE_SECONDS: '60',
  });
  const api = spawnManaged(process.execPath, ['scripts/api.ts'], {
    env: { PATH: process.env['PATH'], ...env },
  });
  started.push(api);
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the api answering /healthz', async () => (await fetch(`${url}/healthz`)).ok, {
    abort: () => (api.child.exitCode !== null ? `exited:\n${api.recentOutput()}` : null),
  });
  const exited = once(api.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { api, url, secret: env['STRIPE_WEBHOOK_SECRETS']!, exited };
}

/**
 * Holds the inbox row of `event` in an open transaction: the api's insert of the same event
 * waits on it. `release` rolls back, and the api's insert goes through.
 */
async function holdInboxRow(event: ReturnType<typeof paymentSucceeded>) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const transaction = db
    .transaction()
    .execute(async (trx) => {
      await recordStripeEvent(trx, event);
      locked();
      await released;
      throw new Error('rollback');
    })
    .catch(() => undefined);
  await isLocked;
  return {
    release: async () => {
      release();
      await transaction;
    },
  };
}

/** True once some session of this database waits on a lock to insert into the inbox. */
async function webhookInsertIsWaiting(): Promise<boolean> {
  const { rows } = await sql<{ waiting: string }>`
    select count(*) as waiting from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock'
      and query ilike '%insert into webhook_events%'`.execute(db);
  return Number(rows[0]?.waiting ?? 0) > 0;
}

function postWebhook(url: string, secret: string, event: unknown, signal?: AbortSignal) {
  const payload = JSON.stringify(event);
  return fetch(`${url}/webhooks/stripe`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': signStripePayload(payload, secret),
    },
    body: payload,
    ...(signal ? { signal } : {}),
  });
}

const inboxRow = (eventId: string) =>
  db.selectFrom('webhook_events').selectAll().where('event_id', '=', eventId).executeTakeFirst();

describe('api shutdown on SIGTERM', () => {
  it('reports not ready at once, finishes the webhook in flight, records it, then exits 0', async () => {
    const { api, url, secret, exited } = await startApi();
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const event = paymentSucceeded();
    const hold = await holdInboxRow(event);
    const webhook = postWebhook(url, secret, event);
    await waitFor('the webhook waiting on the held row', webhookInsertIsWaiting);

    api.child.kill('SIGTERM');
    let readiness: Response | null = null;
    await waitFor('/readyz answering 503', async () => {
      readiness = await fetch(`${url}/readyz`);
      return readiness.status === 503;
    });
    expect(await readiness!.json()).toMatchObject({ status: 'not ready', reason: 'shutting down' });
    expect(api.child.exitCode).toBeNull();

    await hold.release();
    const response = await webhook;
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ received: true });
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(await inboxRow(event.id)).toMatchObject({ event_id: event.id, error: null });
    expect((await inboxRow(event.id))?.dispatched_at).not.toBeNull();
  });

  it('still exits 0 and records the webhook when its client gave up mid-request', async () => {
    const { api, url, secret, exited } = await startApi();
    const event = paymentSucceeded();
    const hold = await holdInboxRow(event);
    const abort = new AbortController();
    const webhook = postWebhook(url, secret, event, abort.signal).catch(
      (error: unknown) => error as Error,
    );
    await waitFor('the webhook waiting on the held row', webhookInsertIsWaiting);
    abort.abort();
    expect(await webhook).toBeInstanceOf(Error);

    api.child.kill('SIGTERM');
    await waitFor(
      '/readyz answering 503',
      async () => (await fetch(`${url}/readyz`)).status === 503,
    );
    await hold.release();
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    // Recorded and handed to Temporal: the pools closed only after the handler finished.
    const row = await inboxRow(event.id);
    expect(row).toMatchObject({ event_id: event.id, error: null });
    expect(row?.dispatched_at).not.toBeNull();
  });
});
