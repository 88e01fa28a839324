import type { Client } from '@temporalio/client';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/database.ts';
import { listUndispatchedWebhookEvents } from '../db/queries/webhook-events.ts';
import { dispatchRecordedEvent, isDispatchable } from './dispatch.ts';
import type { StripeEventEnvelope } from './ingest.ts';
import { routeStripeEvent } from './stripe-routing.ts';

export interface RelayResult {
  dispatched: number;
  stillPending: number;
}

/**
 * Starts the workflows of recorded events that were never dispatched (Temporal was down when
 * they arrived). Safe to run from many api processes at once: dispatching is idempotent.
 */
export async function relayUndispatchedEvents(
  db: Db,
  temporal: Client,
  // Younger rows are still being dispatched by the request that recorded them.
  { limit = 100, minAgeSeconds = 2 }: { limit?: number; minAgeSeconds?: number } = {},
): Promise<RelayResult> {
  const rows = await listUndispatchedWebhookEvents(db, { limit, minAgeSeconds });
  let dispatched = 0;
  for (const row of rows) {
    const route = routeStripeEvent(row.payload as StripeEventEnvelope);
    if (!isDispatchable(route)) continue;
    const outcome = await dispatchRecordedEvent(db, temporal, row, route, 'relay');
    if (outcome.error) break; // Temporal is still away: try again on the next tick.
    dispatched += 1;
  }
  return { dispatched, stillPending: rows.length - dispatched };
}

/** Runs the relay every `intervalMs` until stopped; one tick at a time. */
export function startWebhookRelay(
  db: Db,
  temporal: Client,
  { intervalMs, logger }: { intervalMs: number; logger: FastifyBaseLogger },
): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      try {
        const result = await relayUndispatchedEvents(db, temporal);
        if (result.dispatched > 0) logger.info(result, 'relay dispatched recorded events');
      } catch (error) {
        logger.warn({ err: error }, 'relay tick failed');
      }
    });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
