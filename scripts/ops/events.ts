import { parseArgs } from 'node:util';
import type { Config } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import { findWebhookEvent, listWebhookEvents } from '../../db/queries/webhook-events.ts';
import {
  WEBHOOK_OUTCOMES,
  type WebhookEvent,
  type WebhookOutcome,
} from '../../db/tables/webhook-events.ts';
import { checkStripeEventGaps } from '../../gateway/gap-check.ts';
import { replayEvents } from '../../gateway/replay.ts';
import { pruneInbox } from '../../gateway/retention.ts';
import { createStripeClient } from '../../drivers/stripe.ts';
import type { Client } from '@temporalio/client';
import { printRows } from '../lib/table.ts';
import { parseSince, UsageError } from './common.ts';

export const EVENTS_USAGE = `events list [--status ${WEBHOOK_OUTCOMES.join('|')}] [--type T] [--since ISO] [--limit N]   (failed: also purchases that ended needs_attention)
events replay <evt_id> [--dry-run] [--operator NAME] [--reason TEXT]
events replay --since ISO [--type T] [--dry-run] [--operator NAME] [--reason TEXT]
events prune [--dry-run]            delete settled events older than WEBHOOK_RETENTION_MONTHS
events gap-check [--hours N]        re-drive handled Stripe events the inbox never received`;

export { UsageError } from './common.ts';

const operatorName = (given: string | undefined): string =>
  given ?? process.env['USER'] ?? 'operator';

/** `npm run ops -- events …`: the inbox — list, replay, prune, gap check. */
export async function runEventsCommand(
  argv: string[],
  { db, temporal, config, json }: { db: Db; temporal: Client; config: Config; json: boolean },
): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      status: { type: 'string' },
      type: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      hours: { type: 'string' },
      operator: { type: 'string' },
      reason: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  switch (sub) {
    case 'list': {
      const status = values.status;
      if (status && !(WEBHOOK_OUTCOMES as readonly string[]).includes(status)) {
        throw new UsageError(`--status must be one of ${WEBHOOK_OUTCOMES.join(', ')}`);
      }
      const since = parseSince(values.since);
      const rows = await listWebhookEvents(db, {
        ...(status ? { status: status as WebhookOutcome } : {}),
        ...(values.type ? { type: values.type } : {}),
        ...(since ? { since } : {}),
        limit: values.limit ? Number(values.limit) : 50,
      });
      printRows(
        rows.map((row) => ({
          event_id: row.event_id,
          type: row.type,
          received_at: row.received_at,
          outcome: row.outcome,
          result: row.result ?? 'pending',
          workflow_id: row.workflow_id,
          deliveries: row.deliveries,
          error: row.error,
        })),
        json,
      );
      return;
    }
    case 'replay': {
      const since = parseSince(values.since);
      let events: Pick<
        WebhookEvent,
        'id' | 'event_id' | 'type' | 'payload' | 'result' | 'dispatch_attempts' | 'traceparent'
      >[];
      if (positionals[0]) {
        const event = await findWebhookEvent(db, 'stripe', positionals[0]);
        if (!event) throw new UsageError(`no recorded event ${positionals[0]}`);
        events = [event];
      } else if (since) {
        events = (
          await listWebhookEvents(db, {
            since,
            ...(values.type ? { type: values.type } : {}),
            limit: 10_000,
          })
        ).reverse();
      } else {
        throw new UsageError('events replay needs an event id or --since');
      }
      const dryRun = values['dry-run'];
      if (!json) console.error(`${dryRun ? 'planning' : 'replaying'} ${events.length} event(s)…`);
      const plans = await replayEvents(db, temporal, events, {
        dryRun,
        operator: operatorName(values.operator),
        reason: values.reason,
      });
      printRows(
        plans.map((plan) => ({ ...plan })),
        json,
      );
      return;
    }
    case 'prune': {
      const dryRun = values['dry-run'];
      const count = await pruneInbox(db, config.WEBHOOK_RETENTION_MONTHS, {
        actor: operatorName(values.operator),
        dryRun,
      });
      printRows(
        [
          {
            retention_months: config.WEBHOOK_RETENTION_MONTHS,
            [dryRun ? 'would_delete' : 'deleted']: count,
          },
        ],
        json,
      );
      return;
    }
    case 'gap-check': {
      const hours = values.hours ? Number(values.hours) : config.STRIPE_GAP_CHECK_WINDOW_HOURS;
      const stripe = createStripeClient(config.STRIPE_SECRET_KEY, config.STRIPE_API_URL);
      // Re-driven events are dispatched here and now, so the output is their final state.
      const result = await checkStripeEventGaps(
        { db, temporal, stripe },
        { since: new Date(Date.now() - hours * 3_600_000) },
      );
      printRows(
        [{ window_hours: hours, checked: result.checked, redriven: result.redriven.join(' ') }],
        json,
      );
      return;
    }
    default:
      throw new UsageError(`unknown events command ${sub ?? '(none)'}\n${EVENTS_USAGE}`);
  }
}
