import type { Generated, Insertable, Selectable } from 'kysely';

export const DISPUTE_STATUSES = ['open', 'won', 'lost'] as const;
export type DisputeStatus = (typeof DISPUTE_STATUSES)[number];

/**
 * Refunds and disputes of a purchase, keyed by Stripe's refund or dispute id. They are facts
 * the entitlement status is derived from, so the order in which they arrive does not matter.
 */
export interface PaymentAdjustmentsTable {
  id: Generated<string>;
  /** `revocation`: a reward taken back (or, later, a manual revocation). */
  kind: 'refund' | 'dispute' | 'revocation';
  external_id: string;
  purchase_key: string;
  amount: number;
  currency: string | null;
  /** Refunds: the charge is refunded in full. Disputes: always true (the whole charge). */
  full: boolean;
  /** Refunds: `succeeded`. Disputes: `open`, `won` or `lost` (closed never reopens). */
  status: string;
  stripe_event_id: string | null;
  /** Stripe's reason code (`refund.reason`, `dispute.reason`), when the event carries one. */
  reason: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type PaymentAdjustment = Selectable<PaymentAdjustmentsTable>;
export type NewPaymentAdjustment = Insertable<PaymentAdjustmentsTable>;
