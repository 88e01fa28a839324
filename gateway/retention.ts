import type { Db } from '../db/database.ts';
import { recordAudit } from '../db/queries/audit.ts';
import { pruneWebhookEvents } from '../db/queries/webhook-events.ts';

/**
 * Deletes settled inbox events older than `months` (never undispatched ones: work still owed)
 * and audits the count as `webhook.pruned` by `actor`. With `dryRun`, only counts.
 */
export async function pruneInbox(
  db: Db,
  months: number,
  { actor, dryRun }: { actor: string; dryRun: boolean },
): Promise<number> {
  const count = await pruneWebhookEvents(db, months, { dryRun });
  if (!dryRun) {
    await recordAudit(db, { actor, action: 'webhook.pruned', detail: { count, months } });
  }
  return count;
}
