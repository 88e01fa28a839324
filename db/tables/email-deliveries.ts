import type { Generated, Insertable, Selectable } from 'kysely';

export const EMAIL_DELIVERY_STATUSES = [
  'queued',
  'sent',
  'delivered',
  'bounced',
  'complained',
  'failed',
] as const;
export type EmailDeliveryStatus = (typeof EMAIL_DELIVERY_STATUSES)[number];

/** The delivery ledger: one row per idempotency key, so one key is never delivered twice. */
export interface EmailDeliveriesTable {
  id: Generated<string>;
  idempotency_key: string;
  kind: string;
  recipient: string;
  subject: string;
  html: string;
  text: string;
  order_id: string | null;
  driver: string | null;
  provider_message_id: string | null;
  status: Generated<EmailDeliveryStatus>;
  attempts: Generated<number>;
  last_error: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  sent_at: Date | null;
}

export type EmailDelivery = Selectable<EmailDeliveriesTable>;
export type NewEmailDelivery = Insertable<EmailDeliveriesTable>;
