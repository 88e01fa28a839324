import type { DbExecutor } from '../database.ts';
import type { EmailDelivery } from '../tables/email-deliveries.ts';

export type RecordedEmail = Pick<
  EmailDelivery,
  'id' | 'kind' | 'recipient' | 'subject' | 'status' | 'created_at'
>;

/** The latest 200 recorded emails, newest first (the dev outbox page). */
export async function listRecordedEmails(db: DbExecutor): Promise<RecordedEmail[]> {
  return db
    .selectFrom('email_deliveries')
    .select(['id', 'kind', 'recipient', 'subject', 'status', 'created_at'])
    .orderBy('created_at', 'desc')
    .limit(200)
    .execute();
}

/** One recorded email's HTML body, or undefined. */
export async function findRecordedEmailHtml(
  db: DbExecutor,
  id: string,
): Promise<string | undefined> {
  const message = await db
    .selectFrom('email_deliveries')
    .select(['html'])
    .where('id', '=', id)
    .executeTakeFirst();
  return message?.html;
}
