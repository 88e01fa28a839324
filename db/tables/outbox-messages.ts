import type { ColumnType, Generated, Selectable } from 'kysely';

/** A message to an outside service, delivered (with retries) by whichever process claims it. */
export interface OutboxMessagesTable {
  id: Generated<string>;
  topic: string;
  dedupe_key: string | null;
  payload: ColumnType<unknown, string, string>;
  created_at: Generated<Date>;
  attempts: Generated<number>;
  next_attempt_at: Generated<Date>;
  claimed_until: Date | null;
  delivered_at: Date | null;
  last_error: string | null;
}

export type OutboxMessage = Selectable<OutboxMessagesTable>;
