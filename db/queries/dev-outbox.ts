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

/** A recipient's recorded emails since `since`, newest first, with their text (the smoke). */
export async function listRecordedEmailsTo(
  db: DbExecutor,
  recipient: string,
  since: Date,
): Promise<(RecordedEmail & Pick<EmailDelivery, 'order_id' | 'text'>)[]> {
  return db
    .selectFrom('email_deliveries')
    .select(['id', 'kind', 'recipient', 'subject', 'status', 'created_at', 'order_id', 'text'])
    .where('recipient', '=', recipient)
    .where('created_at', '>=', since)
    .orderBy('created_at', 'desc')
    .limit(50)
    .execute();
}
