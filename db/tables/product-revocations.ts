import type { Generated, Insertable, Selectable } from 'kysely';

/**
 * An operator's revocation of one product of an order (its other products stay): a fact the
 * entitlement's status is derived from. A restore marks it `restored`; at most one is in force
 * (`revoked`) per entitlement.
 */
export interface ProductRevocationsTable {
  id: Generated<string>;
  entitlement_id: string;
  order_id: string;
  status: 'revoked' | 'restored';
  /** The cancellation email's number within the order's ledger keys (the order's own is 1). */
  email_sequence: number;
  notify_buyer: boolean;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type ProductRevocation = Selectable<ProductRevocationsTable>;
export type NewProductRevocation = Insertable<ProductRevocationsTable>;
