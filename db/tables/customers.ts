import type { Generated, Insertable, Selectable } from 'kysely';
import type { CustomerStatus } from '../../workflows/contracts.ts';

/** A buyer. Guests start `pending_claim` and become `active` once linked to an auth user. */
export interface CustomersTable {
  id: Generated<string>;
  /** Always stored lower-cased; unique. */
  email: string;
  status: CustomerStatus;
  auth_user_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type Customer = Selectable<CustomersTable>;
export type NewCustomer = Insertable<CustomersTable>;
