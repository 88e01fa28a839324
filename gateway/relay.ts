import type { Client } from '@temporalio/client';
import type { Db } from '../db/database.ts';
import {
  claimDueWebhookEvents,
  recordFailedDispatchAttempt,
  settleWebhookEventWithoutDispatch,
  type ClaimedWebhookEvent,
} from '../db/queries/webhook-events.ts';
import { dispatchInboxEvent, dispatchRetryDelaySeconds, isDispatchable } from './dispatch.ts';
import type { GatewayMetrics } from '../observability/webhook-metrics.ts';
import type { StripeEventEnvelope } from './ingest.ts';
import { routeStripeEvent } from './stripe-routing.ts';

export interface RelayOptions {
  /** Rows claimed per statement. */
  batchSize: number;
  /** Dispatches in flight at once. */
  concurrency: number;
  /** How long a claim lasts: longer than one dispatch may take (Temporal's 5 s deadline). */
  leaseSeconds: number;
  metrics?: GatewayMetrics;
}

export interface RelayResult {
  claimed: number;
  dispatched: number;
  /** Left for a later attempt, each with its own backoff. */
  retrying: number;
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await task(items[next++]!);
  });
  await Promise.all(lanes);
}

/** Dispatches one claimed row; never throws (a failure is that row's backoff, nothing else's). */
async function relayOne(
  db: Db,
  temporal: Client,
  row: ClaimedWebhookEvent,
  metrics: GatewayMetrics | undefined,
): Promise<boolean> {
  try {
    const route = row.payload
      ? routeStripeEvent(row.payload as StripeEventEnvelope)
      : ({ action: 'reject', error: 'the recorded event cannot be read' } as const);
    if (!isDispatchable(route)) {
      // Recorded before results were preset, or no longer readable: settle it as it routes now.
      await settleWebhookEventWithoutDispatch(db, row, {
        result:
          route.action === 'ignore'
            ? 'ignored'
            : route.action === 'record'
              ? 'processed'
              : 'failed',
        error: route.action === 'reject' ? route.error : null,
        actor: 'relay',
      });
      return true;
    }
    const outcome = await dispatchInboxEvent(db, temporal, row, route, {
      dispatchedBy: 'relay',
      attemptCounted: true,
      attempts: row.dispatch_attempts,
      // The process that recorded the event, or an earlier claim, may have reached Temporal.
      earlierAttemptSince: row.received_at,
    });
    if (outcome.result) {
      metrics?.events.inc({ provider: 'stripe', type: row.type, result: outcome.result });
      metrics?.dispatchSeconds.observe(
        { dispatched_by: 'relay' },
        (Date.now() - row.received_at.getTime()) / 1000,
      );
    }
    return outcome.result !== null;
  } catch (error) {
    await recordFailedDispatchAttempt(db, row.id, {
      error: error instanceof Error ? error.message : String(error),
      retryInSeconds: dispatchRetryDelaySeconds(row.dispatch_attempts),
      attemptCounted: true,
    }).catch(() => undefined);
    return false;
  }
}

/**
 * The safety net behind the dispatch right after the ack: claims recorded events whose lease
 * or backoff has run out (a process died before dispatching, Temporal was away) and dispatches
 * them in parallel, batch after batch until none is due. Any number of api processes run it at
 * once: claims skip each other's rows, and a dispatch is idempotent.
 */
export async function relayDueEvents(
  db: Db,
  temporal: Client,
  options: RelayOptions,
): Promise<RelayResult> {
  const total: RelayResult = { claimed: 0, dispatched: 0, retrying: 0 };
  for (;;) {
    const rows = await claimDueWebhookEvents(db, {
      limit: options.batchSize,
      leaseSeconds: options.leaseSeconds,
    });
    await forEachLimited(rows, options.concurrency, async (row) => {
      if (await relayOne(db, temporal, row, options.metrics)) total.dispatched += 1;
      else total.retrying += 1;
    });
    total.claimed += rows.length;
    if (rows.length < options.batchSize) return total;
  }
}

export interface WebhookRelay {
  /** Runs a pass now (tests); resolves with what it did. */
  runOnce(): Promise<RelayResult>;
  stop(): Promise<void>;
}

/**
 * Runs the relay every `intervalMs` (±20 %, so replicas do not poll in lockstep), one pass at
 * a time, until stopped.
 */
export function startWebhookRelay(
  db: Db,
  temporal: Client,
  options: RelayOptions & {
    intervalMs: number;
    log?: (level: 'info' | 'warn', msg: string, fields: Record<string, unknown>) => void;
  },
): WebhookRelay {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<RelayResult> = Promise.resolve({ claimed: 0, dispatched: 0, retrying: 0 });
  const log = options.log ?? (() => {});

  const pass = (): Promise<RelayResult> =>
    relayDueEvents(db, temporal, options).then(
      (result) => {
        if (result.claimed > 0) log('info', 'relay dispatched recorded events', { ...result });
        return result;
      },
      (error: unknown) => {
        log('warn', 'relay pass failed', {
          error: error instanceof Error ? error.message : String(error),
        });
        return { claimed: 0, dispatched: 0, retrying: 0 };
      },
    );
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        current = pass().finally(schedule);
      },
      options.intervalMs * (0.8 + Math.random() * 0.4),
    );
    timer.unref();
  };
  schedule();
  return {
    runOnce: () => (current = current.then(pass, pass)),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}
