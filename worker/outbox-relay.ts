import type { Db } from '../db/database.ts';
import {
  claimDueOutboxMessages,
  markOutboxDelivered,
  scheduleOutboxRetry,
} from '../db/queries/outbox.ts';
import type { OutboxMessage } from '../db/tables/outbox-messages.ts';

/** Delivers one message to an outside service; throws when the service did not take it. */
export type OutboxSink = (payload: unknown, message: OutboxMessage) => Promise<void>;

export interface OutboxRelayOptions {
  /** How often an idle relay looks for due messages. */
  pollMs?: number;
  batchSize?: number;
  /** How long a claim lasts: longer than any one delivery may take. */
  leaseSeconds?: number;
  /** Backoff after the n-th failed attempt: base × 2^(n−1), capped, ±20 % jitter. */
  retryBaseSeconds?: number;
  retryMaxSeconds?: number;
}

export interface OutboxRelay {
  /** Claims and delivers what is due now; resolves with how many messages were delivered. */
  deliverDue(): Promise<number>;
  stop(): Promise<void>;
}

/** The delay before attempt n + 1, after n failed attempts. */
export function outboxRetryDelaySeconds(
  attempts: number,
  { retryBaseSeconds = 5, retryMaxSeconds = 300 }: OutboxRelayOptions = {},
): number {
  const exponential = retryBaseSeconds * 2 ** Math.max(0, attempts - 1);
  return Math.min(retryMaxSeconds, exponential) * (0.8 + Math.random() * 0.4);
}

/**
 * Delivers outbox messages to their topic's sink, from any number of processes at once (claims
 * with SKIP LOCKED and a lease). A failed delivery is retried with capped exponential backoff
 * and never given up: a sink that is down for an hour receives everything when it returns.
 * Sinks must tolerate a repeat (a process that dies after the sink accepted a message and
 * before it was marked delivered leaves it to be delivered again after the lease).
 */
export function startOutboxRelay(
  db: Db,
  sinks: Readonly<Record<string, OutboxSink>>,
  options: OutboxRelayOptions = {},
): OutboxRelay {
  const { pollMs = 1_000, batchSize = 20, leaseSeconds = 60 } = options;
  const topics = Object.keys(sinks);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<number> = Promise.resolve(0);

  const deliver = async (message: OutboxMessage): Promise<boolean> => {
    try {
      await sinks[message.topic]!(message.payload, message);
      await markOutboxDelivered(db, message.id);
      return true;
    } catch (error) {
      await scheduleOutboxRetry(db, message.id, {
        error: error instanceof Error ? error.message : String(error),
        delaySeconds: outboxRetryDelaySeconds(message.attempts, options),
      });
      return false;
    }
  };

  const deliverDue = async (): Promise<number> => {
    let delivered = 0;
    for (;;) {
      const batch = await claimDueOutboxMessages(db, { topics, limit: batchSize, leaseSeconds });
      const results = await Promise.all(batch.map(deliver));
      delivered += results.filter(Boolean).length;
      if (batch.length < batchSize || stopped) return delivered;
    }
  };

  const tick = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      current = deliverDue()
        .catch((error: unknown) => {
          console.warn(
            JSON.stringify({
              level: 'warn',
              msg: 'outbox relay tick failed',
              error: String(error),
            }),
          );
          return 0;
        })
        .finally(tick);
    }, pollMs);
    timer.unref();
  };
  if (topics.length > 0) tick();

  return {
    deliverDue: () => (current = current.then(deliverDue, deliverDue)),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current.catch(() => undefined);
    },
  };
}
