import { sql } from 'kysely';
import type { Db, DbExecutor } from '../database.ts';
import type { EmailDelivery, EmailDeliveryStatus } from '../tables/email-deliveries.ts';

/**
 * Moves the ledger row of a provider's message to `status` (a delivery event from Resend):
 * sent → delivered, and bounced or complained from anywhere. Returns the row it moved, or
 * undefined when none matched or the move would go backwards.
 */
export async function advanceEmailDeliveryStatus(
  db: DbExecutor,
  providerMessageId: string,
  status: EmailDeliveryStatus,
): Promise<Pick<EmailDelivery, 'id' | 'kind' | 'order_id' | 'recipient'> | undefined> {
  return (
    db
      .updateTable('email_deliveries')
      .set({ status, updated_at: sql<Date>`now()` })
      .where('provider_message_id', '=', providerMessageId)
      // Forward only: a late "delivered" never hides a bounce or a complaint.
      .where(
        'status',
        'in',
        status === 'delivered' ? ['queued', 'sent'] : ['queued', 'sent', 'delivered'],
      )
      .returning(['id', 'kind', 'order_id', 'recipient'])
      .executeTakeFirst()
  );
}

/**
 * Shows a bounced receipt on the order's fulfillment job: its `last_error` and an entry in its
 * history, in one transaction. Returns the job's id, or null when the order has no job.
 */
export async function flagReceiptBounceOnJob(
  db: Db,
  orderId: string,
  emailId: string,
): Promise<string | null> {
  const job = await db
    .selectFrom('fulfillment_jobs')
    .select(['id', 'status'])
    .where('order_id', '=', orderId)
    .executeTakeFirst();
  if (!job) return null;
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('fulfillment_jobs')
      .set({ last_error: `receipt bounced (${emailId})`, updated_at: sql<Date>`now()` })
      .where('id', '=', job.id)
      .execute();
    await trx
      .insertInto('fulfillment_job_events')
      .values({
        job_id: job.id,
        status: job.status,
        detail: JSON.stringify({ event: 'email.bounced', emailId }),
      })
      .execute();
  });
  return job.id;
}
