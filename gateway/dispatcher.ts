import type { Client } from '@temporalio/client';
import type { Db } from '../db/database.ts';
import { releaseWebhookDispatchLeases } from '../db/queries/webhook-events.ts';
import type { WebhookEvent } from '../db/tables/webhook-events.ts';
import type { GatewayMetrics } from '../observability/webhook-metrics.ts';
import { dispatchInboxEvent, type DispatchableRoute } from './dispatch.ts';

/** A just-recorded event for its process to hand to Temporal. */
export interface DispatchJob {
  /** With the recording request's `traceparent`: the start continues that request's trace. */
  row: Pick<WebhookEvent, 'id' | 'event_id' | 'type' | 'traceparent'>;
  route: DispatchableRoute;
}

export interface EventDispatcher {
  /**
   * Queues a just-recorded event for dispatch and returns at once (the request never waits on
   * Temporal). False when the queue is full: the relay dispatches it once its lease ends.
   */
  submit(job: DispatchJob): boolean;
  /** Resolves once nothing is queued or running (tests and benchmarks wait on it). */
  idle(): Promise<void>;
  /** Stops taking work, waits for running dispatches, and hands queued ones to the relay. */
  close(): Promise<void>;
}

export interface EventDispatcherOptions {
  /** Dispatches in flight at once: Temporal starts are a few ms each, so a few dozen suffice. */
  concurrency: number;
  /** Queued beyond the running ones; past it, events wait for the relay instead of memory. */
  maxQueued: number;
  /**
   * The lease the inbox row was recorded with. A job still queued when less than a safety
   * margin of it is left is handed to the relay rather than dispatched late alongside it.
   */
  leaseSeconds: number;
  log?: (level: 'warn' | 'error', msg: string, fields: Record<string, unknown>) => void;
  metrics?: GatewayMetrics;
}

/**
 * Time a dispatch may still take once it starts: Temporal's call deadline (5 s, in
 * temporal/workflows.ts) and the settle statement, with room to spare.
 */
const DISPATCH_BUDGET_MS = 8_000;

/**
 * Dispatches recorded events from the process that recorded them, right after the commit and
 * off the request path, at most `concurrency` at a time. Nothing here is needed for
 * correctness: an event this process never dispatches (queue full, crash, shutdown) is claimed
 * by a relay — in any api process — once its lease ends.
 */
export function createEventDispatcher(
  db: Db,
  temporal: Client,
  options: EventDispatcherOptions,
): EventDispatcher {
  const queue: { job: DispatchJob; queuedAt: number }[] = [];
  let running = 0;
  let closed = false;
  let waiters: (() => void)[] = [];
  const log = options.log ?? (() => {});
  const leaseMs = options.leaseSeconds * 1000;
  const staleAfterMs = leaseMs - Math.min(DISPATCH_BUDGET_MS, leaseMs / 2);

  const settleWaiters = (): void => {
    if (running > 0 || queue.length > 0) return;
    const resolved = waiters;
    waiters = [];
    for (const resolve of resolved) resolve();
  };

  const pump = (): void => {
    while (!closed && running < options.concurrency && queue.length > 0) {
      const { job, queuedAt } = queue.shift()!;
      // Held past its lease, the row may already be the relay's: leave it to the relay.
      if (Date.now() - queuedAt > staleAfterMs) continue;
      running += 1;
      dispatchInboxEvent(db, temporal, job.row, job.route, {
        dispatchedBy: 'api',
        attemptCounted: false,
        attempts: 1,
      })
        .then((outcome) => {
          if (outcome.result) {
            options.metrics?.events.inc({
              provider: 'stripe',
              type: job.row.type,
              result: outcome.result,
            });
            options.metrics?.dispatchSeconds.observe(
              { dispatched_by: 'api' },
              (Date.now() - queuedAt) / 1000,
            );
          }
          if (outcome.error)
            log('warn', 'dispatch failed; the relay retries the event', {
              eventId: job.row.event_id,
              error: outcome.error,
            });
        })
        .catch((error: unknown) => {
          // The database failed while settling: the row keeps its lease and the relay has it.
          log('error', 'dispatch could not be recorded; the relay retries the event', {
            eventId: job.row.event_id,
            error: error instanceof Error ? error.message : String(error),
          });
        })
        .finally(() => {
          running -= 1;
          pump();
          settleWaiters();
        });
    }
    settleWaiters();
  };

  return {
    submit(job) {
      if (closed || queue.length >= options.maxQueued) return false;
      queue.push({ job, queuedAt: Date.now() });
      pump();
      return true;
    },
    idle() {
      if (running === 0 && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    async close() {
      closed = true;
      const handedBack = queue.splice(0).map(({ job }) => job.row.id);
      await new Promise<void>((resolve) => {
        if (running === 0) resolve();
        else waiters.push(resolve);
      });
      await releaseWebhookDispatchLeases(db, handedBack).catch(() => undefined);
      settleWaiters();
    },
  };
}
