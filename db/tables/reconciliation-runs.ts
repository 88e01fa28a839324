import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** What reconciliation compares: Stripe's payments × orders/entitlements × email_deliveries. */
export const RECONCILIATION_CLASSES = [
  'paid-not-entitled',
  'entitled-not-paid',
  'refunded-still-active',
  'entitled-without-email',
  'email-bounced',
] as const;
export type ReconciliationClass = (typeof RECONCILIATION_CLASSES)[number];

/** One mismatch between Stripe and our ledger, and what the run did about it. */
export interface ReconciliationFinding {
  class: ReconciliationClass;
  /** The payment intent (or checkout session) the purchase is keyed on. */
  purchaseKey: string;
  orderId: string | null;
  detail: string;
  /** `healed: …` when the run re-drove the fulfillment, `reported` otherwise. */
  action: string;
}

type Json<T> = ColumnType<T, string, string>;

/** One reconciliation run: its window, counts per class and every finding. */
export interface ReconciliationRunsTable {
  id: Generated<string>;
  window_start: Date;
  window_end: Date;
  actor: string;
  heal: boolean;
  payments_checked: number;
  orders_checked: number;
  counts: Json<Record<ReconciliationClass, number>>;
  findings: Json<ReconciliationFinding[]>;
  healed: number;
  started_at: Date;
  finished_at: Generated<Date>;
}

export type ReconciliationRun = Selectable<ReconciliationRunsTable>;
export type NewReconciliationRun = Insertable<ReconciliationRunsTable>;
