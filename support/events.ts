import { findWebhookEvent } from '../db/queries/webhook-events.ts';
import { replayEvents, type ReplayPlan } from '../gateway/replay.ts';
import { OperationError, requireReason, type Authorship, type OperationsDeps } from './context.ts';

/**
 * Replays one recorded Stripe event through the path it took when it arrived (audited as
 * `webhook.replayed` with who and why, unless a dry run). Every step is idempotent: a replay
 * only changes what did not happen.
 */
export async function replayWebhookEvent(
  deps: Pick<OperationsDeps, 'db' | 'temporal'>,
  eventId: string,
  who: Authorship,
  { dryRun = false }: { dryRun?: boolean } = {},
): Promise<ReplayPlan> {
  requireReason(who);
  const event = await findWebhookEvent(deps.db, 'stripe', eventId);
  if (!event) throw new OperationError('not_found', `no recorded event ${eventId}`);
  const [plan] = await replayEvents(deps.db, deps.temporal, [event], {
    dryRun,
    operator: who.operator.name,
    reason: who.reason,
  });
  return plan!;
}
