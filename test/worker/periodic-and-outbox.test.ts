import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { enqueueOutboxMessage, listOutboxMessages } from '../../db/queries/outbox.ts';
import { claimPeriodicTurn, listPeriodicJobs } from '../../db/queries/periodic-jobs.ts';
import { startOutboxRelay } from '../../worker/outbox-relay.ts';
import { startPeriodicJobs } from '../../worker/periodic.ts';
import { waitFor } from '../../stack/processes.ts';
import { fileDatabaseUrl } from '../helpers/file-resources.ts';

let db: Db;
beforeAll(async () => {
  db = await connectDatabase({ kind: 'postgres', url: fileDatabaseUrl() });
});
afterAll(async () => {
  await db.destroy();
});

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

describe('periodic jobs', () => {
  it('gives each turn to exactly one of many processes asking at once', async () => {
    const name = unique('turns');
    const ask = (i: number) =>
      claimPeriodicTurn(db, { name, holder: `replica-${i}`, intervalSeconds: 1 });
    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(i)));
    expect(first.filter(Boolean)).toHaveLength(1);
    // Within the interval nobody gets another turn; once it has passed, one process does.
    expect((await Promise.all(Array.from({ length: 10 }, (_, i) => ask(i)))).some(Boolean)).toBe(
      false,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const second = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(i)));
    expect(second.filter(Boolean)).toHaveLength(1);
  });

  it('runs a job across two runners once per turn, and a failed turn does not stop the next', async () => {
    const name = unique('runner');
    let runs = 0;
    const job = {
      name,
      everySeconds: 1,
      async run() {
        runs += 1;
        if (runs === 2) throw new Error('the second turn fails');
      },
    };
    const quiet = () => undefined;
    const replicas = [
      startPeriodicJobs(db, [job], { holder: 'replica-a', log: quiet }),
      startPeriodicJobs(db, [job], { holder: 'replica-b', log: quiet }),
    ];
    await waitFor('three turns', async () => runs >= 3, { timeoutMs: 20_000 });
    await Promise.all(replicas.map((replica) => replica.stop()));
    const row = (await listPeriodicJobs(db)).find((job) => job.name === name)!;
    // Every turn the table handed out was run once, by one replica.
    expect(Number(row.runs)).toBe(runs);
  });
});

describe('outbox relay', () => {
  it('keeps retrying a failing sink and delivers once it recovers, losing nothing', async () => {
    const topic = unique('sink');
    await enqueueOutboxMessage(db, { topic, payload: { n: 1 }, dedupeKey: 'one' });
    // The same key again is the same message.
    expect(await enqueueOutboxMessage(db, { topic, payload: { n: 1 }, dedupeKey: 'one' })).toBe(
      false,
    );
    const received: unknown[] = [];
    let failures = 3;
    const relay = startOutboxRelay(
      db,
      {
        [topic]: async (payload) => {
          if (failures-- > 0) throw new Error('sink down');
          received.push(payload);
        },
      },
      { pollMs: 50, retryBaseSeconds: 0.05, retryMaxSeconds: 0.2 },
    );
    await waitFor('delivered', async () => received.length === 1, { timeoutMs: 20_000 });
    await relay.stop();
    const [message] = await listOutboxMessages(db, { topic });
    expect(received).toEqual([{ n: 1 }]);
    expect(message).toMatchObject({ attempts: 4, last_error: null });
    expect(message!.delivered_at).toBeInstanceOf(Date);
  });

  it('delivers each message once when two relays claim from one queue', async () => {
    const topic = unique('shared');
    for (let n = 0; n < 60; n += 1) await enqueueOutboxMessage(db, { topic, payload: { n } });
    const received: number[] = [];
    const sink = async (payload: unknown) => {
      received.push((payload as { n: number }).n);
    };
    const relays = [
      startOutboxRelay(db, { [topic]: sink }, { pollMs: 20, batchSize: 7 }),
      startOutboxRelay(db, { [topic]: sink }, { pollMs: 20, batchSize: 7 }),
    ];
    await waitFor('all delivered', async () => received.length >= 60, { timeoutMs: 20_000 });
    await Promise.all(relays.map((relay) => relay.stop()));
    expect([...received].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, n) => n));
    expect(await listOutboxMessages(db, { topic, undeliveredOnly: true })).toEqual([]);
  });
});
