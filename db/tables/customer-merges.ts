import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** One verification data point an operator checked before a merge. */
export interface VerificationPoint {
  kind: string;
  value: string;
  /** `matched`: checked against our records; `attested`: the operator checked it elsewhere. */
  check: 'matched' | 'attested';
}

/**
 * Purchases moved from one customer to another (the buyer changed email): which orders, and
 * the verification data points the operator recorded (at least two).
 */
export interface CustomerMergesTable {
  id: Generated<string>;
  from_customer_id: string;
  to_customer_id: string;
  order_ids: string[];
  entitlements_moved: number;
  verification: ColumnType<VerificationPoint[], string, string>;
  operator: string;
  reason: string;
  created_at: Generated<Date>;
}

export type CustomerMerge = Selectable<CustomerMergesTable>;
export type NewCustomerMerge = Insertable<CustomerMergesTable>;
